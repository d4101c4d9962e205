package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) resetOffsetsCommand() *cobra.Command {
	var (
		group            string
		topics           []string
		earliest, latest bool
		toTime           string
		toOffset         int64
		execute          bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets --group GROUP (--to-earliest | --to-latest | --to-datetime T | --to-offset N) [--topic T[:P]]... [--execute]",
		Short: "Plan, or with --execute commit, new committed offsets for a consumer group",
		Long: `Move a consumer group's committed offsets, as kafka-consumer-groups
--reset-offsets does: to the log start (--to-earliest), the high watermark
(--to-latest), the first record at or after a time (--to-datetime), or an
offset (--to-offset, brought into the partition's range: below the log
start, negative ones included, is the log start; above the high watermark
is the high watermark).

--topic selects every partition of a topic, or TOPIC:PARTITION one; without
it, every partition the group has a committed offset for, and a group
without any (a mistyped name) is an error.

Without --execute this is a dry run: it prints the offsets it would commit,
reading the log read-only, whatever members the group has. With --execute
it commits them, which needs the log's lock: stop the process that has the
log open, and with it the group's members, first. Members live in that
process: those that 'groups describe' still lists afterwards are what it
stored before it crashed or stopped, and do not stop the reset.`,
		Args: args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) (err error) {
			if group == "" {
				return usageError("--group is required")
			}
			// The library refuses a negative offset; the help promises
			// that it is brought into range as one past the end is, and 0
			// is brought to the log start.
			spec := eventlog.ResetOffsetsSpec{DryRun: !execute, Offset: max(toOffset, 0)}
			targets := 0
			if earliest {
				spec.To, targets = eventlog.ResetToEarliest, targets+1
			}
			if latest {
				spec.To, targets = eventlog.ResetToLatest, targets+1
			}
			if toTime != "" {
				if spec.Time, err = parseTime(toTime); err != nil {
					return usageError("--to-datetime: %v", err)
				}
				spec.To, targets = eventlog.ResetToTime, targets+1
			}
			if cmd.Flags().Changed("to-offset") {
				spec.To, targets = eventlog.ResetToOffset, targets+1
			}
			if targets != 1 {
				return usageError("give exactly one of --to-earliest, --to-latest, --to-datetime and --to-offset")
			}
			for _, t := range topics {
				name, part, ok := strings.Cut(t, ":")
				if !ok {
					spec.Topics = append(spec.Topics, name)
					continue
				}
				p, err := strconv.ParseInt(part, 10, 32)
				if err != nil || p < 0 {
					return usageError("--topic %q: %q is not a partition number", t, part)
				}
				spec.Partitions = append(spec.Partitions, eventlog.TopicPartition{Topic: name, Partition: int32(p)})
			}
			var l *eventlog.Log
			if execute {
				l, err = a.openWritable(false, nil)
			} else {
				l, err = a.openReadOnly()
			}
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			offsets, err := resetOffsets(cmd.Context(), l, group, spec)
			if err != nil {
				return argumentError(err)
			}
			if len(offsets) == 0 && len(topics) == 0 {
				// A mistyped group name, most likely: not a success.
				return fmt.Errorf("group %q has no committed offsets to reset: name the topics or partitions to reset with --topic", group)
			}
			if a.json {
				out := jsonReset{Group: group, Executed: execute, Offsets: []jsonResetOffset{}}
				for _, o := range offsets {
					out.Offsets = append(out.Offsets, jsonResetOffset{Topic: o.Topic, Partition: o.Partition, Offset: o.Committed, HighWatermark: o.HighWatermark, Lag: o.Lag})
				}
				return printJSON(a.stdout, out)
			}
			t := newTable(a.stdout, "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET", "HIGH-WATERMARK", "LAG")
			for _, o := range offsets {
				t.row(name(group), o.Topic, o.Partition, o.Committed, o.HighWatermark, o.Lag)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if !execute {
				fmt.Fprintln(a.stderr, "dry run: nothing was committed; add --execute to commit these offsets")
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&group, "group", "g", "", "the consumer group (required)")
	f.StringArrayVarP(&topics, "topic", "t", nil, "TOPIC or TOPIC:PARTITION to reset (repeatable; default: all the group has committed)")
	f.BoolVar(&earliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&latest, "to-latest", false, "reset to the high watermark")
	f.StringVar(&toTime, "to-datetime", "", "reset to the first record at or after this time (RFC 3339 or Unix milliseconds)")
	f.Int64Var(&toOffset, "to-offset", 0, "reset to this offset")
	f.BoolVar(&execute, "execute", false, "commit the offsets (default: dry run)")
	return cmd
}

// jsonReset is what reset-offsets prints in JSON.
type jsonReset struct {
	Group    string            `json:"group"`
	Executed bool              `json:"executed"`
	Offsets  []jsonResetOffset `json:"offsets"`
}

type jsonResetOffset struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Offset        int64  `json:"new_offset"`
	HighWatermark int64  `json:"high_watermark"`
	Lag           int64  `json:"lag"`
}

// resetOffsets is l.ResetGroupOffsets; a dry run, on a read-only Log, goes
// on past segment files that the process writing the log deletes
// meanwhile (see againIfGone).
func resetOffsets(ctx context.Context, l *eventlog.Log, group string, spec eventlog.ResetOffsetsSpec) (offsets []eventlog.GroupPartitionOffset, err error) {
	if !spec.DryRun {
		return l.ResetGroupOffsets(ctx, group, spec)
	}
	err = againIfGone(l, func() error {
		offsets, err = l.ResetGroupOffsets(ctx, group, spec)
		return err
	})
	return offsets, err
}
