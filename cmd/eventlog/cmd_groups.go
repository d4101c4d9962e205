package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) groupsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "groups",
		Short: "List consumer groups with their state, members, committed partitions and total lag",
		Args:  args(0, 0),
		RunE: a.readOnlyE(func(cmd *cobra.Command, _ []string, l *eventlog.Log) error {
			groups, err := describeGroups(l, nil)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, groups)
			}
			t := newTable(a.stdout, "GROUP", "STATE", "MEMBERS", "PARTITIONS", "LAG")
			for _, g := range groups {
				var lag int64
				for _, o := range g.Offsets {
					lag += o.Lag
				}
				t.row(name(g.Group), g.State, len(g.Members), len(g.Offsets), lag)
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
		Short: "Describe consumer groups: state, members and their assignment, and per partition the committed offset, high watermark and lag",
		Long: `Describe consumer groups, as kafka-consumer-groups --describe does: the
group's state, generation and assignor; its members, with their client and
the partitions assigned to them; and per partition the committed offset,
high watermark, lag and the member it is assigned to.

Members run in the process that uses the group. This command reads what
that process wrote to __consumer_offsets when the group last completed a
rebalance or became empty, and says when ("stored at"). Members of a
process that crashed stay listed, as Kafka lists them until their session
expires.`,
		Args: args(0, -1),
		RunE: a.readOnlyE(func(cmd *cobra.Command, names []string, l *eventlog.Log) error {
			groups, err := describeGroups(l, names)
			if err != nil {
				return err
			}
			if a.json {
				return printJSON(a.stdout, groups)
			}
			for i, g := range groups {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				if err := a.printGroup(l, g); err != nil {
					return err
				}
			}
			return nil
		}),
	}
}

// printGroup prints a group's description: a summary line, its members,
// and its partitions, those committed and those assigned.
func (a *app) printGroup(l *eventlog.Log, g groupDescription) error {
	summary := []string{g.State}
	if g.Generation > 0 {
		summary = append(summary, fmt.Sprintf("generation %d", g.Generation))
	}
	if g.Assignor != "" {
		summary = append(summary, "assignor "+name(g.Assignor))
	}
	switch len(g.Members) {
	case 0:
		summary = append(summary, "no members")
	case 1:
		summary = append(summary, "1 member")
	default:
		summary = append(summary, fmt.Sprintf("%d members", len(g.Members)))
	}
	if g.StoredAt != "" {
		summary = append(summary, "stored at "+g.StoredAt)
	}
	fmt.Fprintf(a.stdout, "group %s: %s\n", name(g.Group), strings.Join(summary, ", "))
	owner := make(map[string]string)
	if len(g.Members) > 0 {
		t := newTable(a.stdout, "MEMBER", "INSTANCE", "CLIENT-ID", "CLIENT-HOST", "ASSIGNMENT")
		for _, m := range g.Members {
			t.row(name(m.MemberID), orDash(name(m.GroupInstanceID)), orDash(name(m.ClientID)), orDash(name(m.ClientHost)),
				orDash(strings.Join(m.Assignment, ",")))
			for _, tp := range m.Assignment {
				owner[tp] = m.MemberID
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	t := newTable(a.stdout, "TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "COMMIT-TIME", "MEMBER")
	listed := make(map[string]bool)
	for _, o := range g.Offsets {
		hw := fmt.Sprint(o.HighWatermark)
		if o.HighWatermark < 0 {
			hw = "-" // the topic is gone
		}
		tp := eventlog.TopicPartition{Topic: o.Topic, Partition: o.Partition}.String()
		listed[tp] = true
		t.row(o.Topic, o.Partition, o.Committed, hw, o.Lag, o.CommitTime, orDash(name(owner[tp])))
	}
	// Assigned partitions the group has not committed yet.
	for _, m := range g.Members {
		for i, tp := range m.Assignment {
			if listed[tp] {
				continue
			}
			p := m.partitions[i]
			hw := "-"
			if part, err := l.Partition(p.Topic, p.Partition); err == nil {
				hw = fmt.Sprint(part.HighWatermark())
			}
			t.row(p.Topic, p.Partition, "-", hw, "-", "-", name(m.MemberID))
		}
	}
	return t.flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// groupDescription is a group as the groups commands print it.
type groupDescription struct {
	Group      string `json:"group"`
	State      string `json:"state"`
	Generation int32  `json:"generation"`
	Assignor   string `json:"assignor,omitempty"`
	// StoredAt is when the process running the group wrote what is
	// described; "" when it wrote nothing.
	StoredAt string              `json:"stored_at,omitempty"`
	Members  []memberDescription `json:"members"`
	Offsets  []groupOffset       `json:"offsets"`
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
	ClientID        string   `json:"client_id"`
	ClientHost      string   `json:"client_host"`
	Topics          []string `json:"topics"`
	Assignment      []string `json:"assignment"`

	partitions []eventlog.TopicPartition // Assignment, unformatted
}

// describeGroups describes the named groups, each once in the order first
// named, or all of them.
func describeGroups(l *eventlog.Log, names []string) ([]groupDescription, error) {
	names = uniqueNames(names)
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
			return nil, argumentError(err)
		}
		g := groupDescription{Group: name, State: string(d.State), Generation: d.Generation, Assignor: d.Assignor,
			Offsets: []groupOffset{}, Members: []memberDescription{}}
		if d.Stored && !d.StoredAt.IsZero() {
			g.StoredAt = formatTime(d.StoredAt)
		}
		for _, o := range d.Offsets {
			g.Offsets = append(g.Offsets, groupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed,
				HighWatermark: o.HighWatermark, Lag: o.Lag, CommitTime: formatTime(o.CommitTime), Metadata: o.Metadata})
		}
		for _, m := range d.Members {
			md := memberDescription{MemberID: m.MemberID, GroupInstanceID: m.GroupInstanceID, ClientID: m.ClientID,
				ClientHost: m.ClientHost, Topics: m.Topics, Assignment: []string{}, partitions: m.Assignment}
			if md.Topics == nil {
				md.Topics = []string{}
			}
			for _, tp := range m.Assignment {
				md.Assignment = append(md.Assignment, tp.String())
			}
			g.Members = append(g.Members, md)
		}
		out = append(out, g)
	}
	return out, nil
}
