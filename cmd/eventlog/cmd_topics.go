package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) topicsCommand() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "topics",
		Short: "List topics with their partitions, sizes and cleanup policy",
		Args:  args(0, 0),
		RunE: a.readOnlyE(func(cmd *cobra.Command, _ []string, l *eventlog.Log) error {
			topics, err := describeTopics(l, nil, internal)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, topics)
			}
			t := newTable(a.stdout, "TOPIC", "PARTITIONS", "SEGMENTS", "BYTES", "CLEANUP")
			for _, d := range topics {
				segments, bytes := 0, int64(0)
				for _, p := range d.Partitions {
					segments += p.Segments
					bytes += p.Bytes
				}
				t.row(d.Name, len(d.Partitions), segments, bytes, d.Config["cleanup.policy"])
			}
			return t.flush()
		}),
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics (__consumer_offsets, __transaction_state)")
	cmd.AddCommand(a.topicsDescribeCommand(), a.topicsCreateCommand())
	return cmd
}

func (a *app) topicsDescribeCommand() *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Describe topics: configuration, and offsets and sizes per partition",
		Args:  args(0, -1),
		RunE: a.readOnlyE(func(cmd *cobra.Command, names []string, l *eventlog.Log) error {
			topics, err := describeTopics(l, names, internal)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, topics)
			}
			for i, d := range topics {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				fmt.Fprintf(a.stdout, "topic %s: %s\n", d.Name, formatConfig(d.Config))
				t := newTable(a.stdout, "PARTITION", "LOG-START", "HIGH-WATERMARK", "LOG-END", "SEGMENTS", "BYTES")
				for _, p := range d.Partitions {
					t.row(p.Partition, p.LogStartOffset, p.HighWatermark, p.LogEndOffset, p.Segments, p.Bytes)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "with no TOPIC, include internal topics (__consumer_offsets, __transaction_state)")
	return cmd
}

func (a *app) topicsCreateCommand() *cobra.Command {
	var (
		partitions     int
		cleanup        string
		durability     string
		retention      time.Duration
		retentionBytes int64
		segmentBytes   int64
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC",
		Short: "Create a topic (and the log, in a new or empty directory)",
		Long: `Create a topic, and the log if the directory is new or empty (one that
holds other files but no log is refused, so that a mistyped --dir does not
get a log mixed into it); a topic refused leaves no new log. The settings
given are stored with the topic and override the Options that the log is
opened with. One left unset is not stored: the topic inherits it from the
Options of the process that opens the log (your service), and the
library's default applies where they set none.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, names []string) (err error) {
			// The library takes 0 for its default, 1; here 1 is the
			// flag's default, and 0 a mistake.
			if partitions == 0 {
				return usageError("--partitions 0: a topic has at least 1")
			}
			cfg := eventlog.TopicConfig{Partitions: partitions, Retention: retention, RetentionBytes: retentionBytes, SegmentBytes: segmentBytes}
			switch cleanup {
			case "delete":
			case "compact":
				cfg.CleanupPolicy = eventlog.CleanupCompact
			case "compact,delete":
				cfg.CleanupPolicy = eventlog.CleanupCompactDelete
			default:
				return usageError("--cleanup-policy %q is not delete, compact or compact,delete", cleanup)
			}
			switch durability {
			case "":
			case "fsync":
				cfg.Durability = eventlog.DurabilityFsync
			case "os":
				cfg.Durability = eventlog.DurabilityOS
			default:
				return usageError("--durability %q is not fsync or os", durability)
			}
			if err := a.checkLogDir(false); err != nil {
				if err := validateNewTopic(names[0], cfg); err != nil {
					return argumentError(err)
				}
			}
			l, err := a.openWritable(true, nil)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			if err := l.CreateTopic(names[0], cfg); err != nil {
				return argumentError(err)
			}
			topics, err := describeTopics(l, names, false)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, topics)
			}
			fmt.Fprintf(a.stdout, "created topic %s: %s\n", names[0], formatConfig(topics[0].Config))
			return nil
		}),
	}
	f := cmd.Flags()
	f.IntVarP(&partitions, "partitions", "p", 1, "number of partitions")
	f.StringVar(&cleanup, "cleanup-policy", "delete", "delete, compact or compact,delete (cleanup.policy)")
	f.StringVar(&durability, "durability", "", "fsync or os (default: inherited from the Options the log is opened with, fsync unless they set another)")
	f.DurationVar(&retention, "retention", 0, "how long closed segments are kept, e.g. 168h (retention.ms; default: inherited from the Options the log is opened with, forever unless they set a retention)")
	f.Int64Var(&retentionBytes, "retention-bytes", 0, "size cap of each partition (retention.bytes; default: inherited from the Options the log is opened with, none unless they set one)")
	f.Int64Var(&segmentBytes, "segment-bytes", 0, "segment size (segment.bytes; default: inherited from the Options the log is opened with, 1 GiB unless they set another)")
	return cmd
}

// topicDescription is a topic as the topics commands print it.
type topicDescription struct {
	Name       string                 `json:"name"`
	Internal   bool                   `json:"internal"`
	Config     map[string]string      `json:"config"`
	Partitions []partitionDescription `json:"partitions"`
}

type partitionDescription struct {
	Partition      int32   `json:"partition"`
	LogStartOffset int64   `json:"log_start_offset"`
	HighWatermark  int64   `json:"high_watermark"`
	LogEndOffset   int64   `json:"log_end_offset"`
	Segments       int     `json:"segments"`
	Bytes          int64   `json:"bytes"`
	DirtyRatio     float64 `json:"dirty_ratio"`
}

// describeTopics describes the named topics, each once in the order first
// named, or all of them (internal ones too with internal), sorted.
func describeTopics(l *eventlog.Log, names []string, internal bool) ([]topicDescription, error) {
	stats := l.Stats().Partitions
	names = uniqueNames(names)
	if len(names) == 0 {
		for _, s := range stats {
			if (internal || !strings.HasPrefix(s.Topic, "__")) && !slices.Contains(names, s.Topic) {
				names = append(names, s.Topic)
			}
		}
	}
	out := make([]topicDescription, 0, len(names))
	for _, name := range names {
		cfg, err := l.TopicConfig(name)
		if err != nil {
			return nil, err
		}
		d := topicDescription{Name: name, Internal: strings.HasPrefix(name, "__"), Config: configMap(cfg)}
		for _, s := range stats {
			if s.Topic == name {
				d.Partitions = append(d.Partitions, partitionDescription{Partition: s.Partition, LogStartOffset: s.LogStartOffset,
					HighWatermark: s.HighWatermark, LogEndOffset: s.LogEndOffset, Segments: s.Segments, Bytes: s.Bytes, DirtyRatio: s.DirtyRatio})
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// configMap names a topic's settings as Kafka does (TopicConfig's
// KafkaConfigs), with its partitions, and its durability in the Log's
// words rather than as flush.messages; zero fields, which inherit the
// log's defaults, are left out.
func configMap(c eventlog.TopicConfig) map[string]string {
	m := c.KafkaConfigs()
	m["partitions"] = strconv.Itoa(c.Partitions)
	delete(m, "flush.messages")
	if c.Durability != eventlog.DurabilityDefault {
		m["durability"] = c.Durability.String()
	}
	return m
}

// formatConfig prints a config map as key=value pairs, partitions and
// cleanup.policy first, the rest sorted.
func formatConfig(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "partitions" && k != "cleanup.policy" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	keys = append([]string{"partitions", "cleanup.policy"}, keys...)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, " ")
}

// uniqueNames returns names without repeats, each where it first comes,
// so that a topic named twice is described or compacted once.
func uniqueNames(names []string) []string {
	var out []string
	for _, name := range names {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
