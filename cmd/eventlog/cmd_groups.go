package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

// Members of a consumer group live in the process that runs them: this
// command, another process, sees a group's committed offsets (the records
// of __consumer_offsets) but not its members or their assignment.

func (a *app) groupsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List consumer groups with their committed partitions and total lag",
		Args:  args(0, 0),
		RunE: a.readOnlyE(func(cmd *cobra.Command, _ []string, l *eventlog.Log) error {
			groups, err := describeGroups(l, nil)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, groups)
			}
			t := newTable(a.stdout, "GROUP", "PARTITIONS", "LAG")
			for _, g := range groups {
				var lag int64
				for _, o := range g.Offsets {
					lag += o.Lag
				}
				t.row(g.Group, len(g.Offsets), lag)
			}
			return t.flush()
		}),
	}
	cmd.AddCommand(a.groupsDescribeCommand())
	return cmd
}

func (a *app) groupsDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe [GROUP...]",
		Short: "Describe consumer groups: committed offset, high watermark and lag per partition",
		Long: `Describe consumer groups: committed offset, high watermark and lag per
partition, as kafka-consumer-groups --describe does.

Members and their assignment live in the process that runs the group, so
this command shows them only when that process is this one, which it never
is: the MEMBER column says "-". Committed offsets are read from the log.`,
		Args: args(0, -1),
		RunE: a.readOnlyE(func(cmd *cobra.Command, names []string, l *eventlog.Log) error {
			groups, err := describeGroups(l, names)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, groups)
			}
			t := newTable(a.stdout, "GROUP", "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "COMMIT-TIME", "MEMBER")
			for _, g := range groups {
				for _, o := range g.Offsets {
					hw := fmt.Sprint(o.HighWatermark)
					if o.HighWatermark < 0 {
						hw = "-" // the topic is gone
					}
					t.row(g.Group, o.Topic, o.Partition, o.Committed, hw, o.Lag, o.CommitTime, memberOf(g, o.Topic, o.Partition))
				}
			}
			return t.flush()
		}),
	}
}

// groupDescription is a group as the groups commands print it.
type groupDescription struct {
	Group   string              `json:"group"`
	Offsets []groupOffset       `json:"offsets"`
	Members []memberDescription `json:"members"`
}

type groupOffset struct {
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	Committed     int64  `json:"committed"`
	HighWatermark int64  `json:"high_watermark"` // -1 when the topic is gone
	Lag           int64  `json:"lag"`
	CommitTime    string `json:"commit_time"`
	Metadata      string `json:"metadata,omitempty"`
}

type memberDescription struct {
	MemberID        string   `json:"member_id"`
	GroupInstanceID string   `json:"group_instance_id,omitempty"`
	Assignment      []string `json:"assignment"`
}

// describeGroups describes the named groups, or all of them.
func describeGroups(l *eventlog.Log, names []string) ([]groupDescription, error) {
	if len(names) == 0 {
		var err error
		if names, err = l.Groups(); err != nil {
			return nil, err
		}
	}
	out := make([]groupDescription, 0, len(names))
	for _, name := range names {
		d, err := l.DescribeGroup(name)
		if err != nil {
			return nil, err
		}
		g := groupDescription{Group: name, Offsets: []groupOffset{}, Members: []memberDescription{}}
		for _, o := range d.Offsets {
			g.Offsets = append(g.Offsets, groupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed,
				HighWatermark: o.HighWatermark, Lag: o.Lag, CommitTime: formatTime(o.CommitTime), Metadata: o.Metadata})
		}
		for _, m := range d.Members {
			md := memberDescription{MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID, Assignment: []string{}}
			for _, tp := range m.Assignment {
				md.Assignment = append(md.Assignment, tp.String())
			}
			g.Members = append(g.Members, md)
		}
		out = append(out, g)
	}
	return out, nil
}

// memberOf returns the member that owns a partition, or "-".
func memberOf(g groupDescription, topic string, partition int32) string {
	tp := eventlog.TopicPartition{Topic: topic, Partition: partition}.String()
	for _, m := range g.Members {
		for _, a := range m.Assignment {
			if a == tp {
				return m.MemberID
			}
		}
	}
	return "-"
}
