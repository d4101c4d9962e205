package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) statsCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Print the log's totals and every partition's offsets, segments, bytes and dirty ratio",
		Long: `Print the log's totals, whether it was last closed cleanly (if not, a
process has it open or crashed), and for every partition, internal ones
included, its offsets, segments, bytes and, for compacted topics, dirty
ratio (the share of its closed segments' bytes written since the last
cleaning).`,
		Args: args(0, 0),
		RunE: a.readOnlyE(func(cmd *cobra.Command, _ []string, l *eventlog.Log) error {
			topics, err := describeTopics(l, nil, true)
			if err != nil {
				return err
			}
			s := jsonStats{CleanShutdown: l.Recovery().CleanShutdown, Topics: len(topics), PartitionStats: []jsonPartitionStats{}}
			for _, t := range topics {
				for _, p := range t.Partitions {
					s.Partitions++
					s.Segments += p.Segments
					s.Bytes += p.Bytes
					s.PartitionStats = append(s.PartitionStats, jsonPartitionStats{Topic: t.Name, partitionDescription: p,
						CleanupPolicy: t.Config["cleanup.policy"]})
				}
			}
			if a.json {
				return printJSON(a.stdout, s)
			}
			clean := "no (a process has the log open, or crashed)"
			if s.CleanShutdown {
				clean = "yes"
			}
			fmt.Fprintf(a.stdout, "topics: %d  partitions: %d  segments: %d  bytes: %d (%s)  closed cleanly: %s\n",
				s.Topics, s.Partitions, s.Segments, s.Bytes, formatBytes(s.Bytes), clean)
			t := newTable(a.stdout, "TOPIC", "PARTITION", "CLEANUP", "LOG-START", "HIGH-WATERMARK", "LOG-END", "SEGMENTS", "BYTES", "DIRTY-RATIO")
			for _, p := range s.PartitionStats {
				t.row(p.Topic, p.Partition, p.CleanupPolicy, p.LogStartOffset, p.HighWatermark, p.LogEndOffset, p.Segments, p.Bytes,
					fmt.Sprintf("%.2f", p.DirtyRatio))
			}
			return t.flush()
		}),
	}
}

// jsonStats is what stats prints in JSON.
type jsonStats struct {
	CleanShutdown  bool                 `json:"clean_shutdown"`
	Topics         int                  `json:"topics"`
	Partitions     int                  `json:"partitions"`
	Segments       int                  `json:"segments"`
	Bytes          int64                `json:"bytes"`
	PartitionStats []jsonPartitionStats `json:"partition_stats"`
}

type jsonPartitionStats struct {
	Topic         string `json:"topic"`
	CleanupPolicy string `json:"cleanup_policy"`
	partitionDescription
}
