package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Group IDs are any string. In text output, one that a terminal or a table
// would not show as it is — a newline, a tab, an escape sequence, a byte
// that is not UTF-8 (0xff is text/tabwriter's escape character) — prints
// quoted as a Go string, as keys and values do, so that it stays on its
// line and leaves the other rows as they are.
func TestGroupIDsPrintSafely(t *testing.T) {
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	ids := []string{"bad\xff", "esc\x1b[31mred", "evil\ngroup x: Stable, 99 members", "plain", "tab\there"}
	for _, id := range ids {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: id})
		require.NoError(t, err)
		require.NoError(t, c.CommitOffsets(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {}}))
		require.NoError(t, c.Close())
	}
	require.NoError(t, l.Close())

	r := runCLI(t, dir, "", "groups")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `GROUP                                STATE  MEMBERS  PARTITIONS  LAG
"bad\xff"                            Empty  0        1           0
"esc\x1b[31mred"                     Empty  0        1           0
"evil\ngroup x: Stable, 99 members"  Empty  0        1           0
plain                                Empty  0        1           0
"tab\there"                          Empty  0        1           0
`, r.stdout)

	r = runCLI(t, dir, "", "groups", "describe")
	require.Equal(t, exitOK, r.code, r.stderr)
	var summaries []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "group ") {
			summaries = append(summaries, line)
		}
	}
	assert.Equal(t, []string{
		`group "bad\xff": Empty, no members`,
		`group "esc\x1b[31mred": Empty, no members`,
		`group "evil\ngroup x: Stable, 99 members": Empty, no members`,
		`group plain: Empty, no members`,
		`group "tab\there": Empty, no members`,
	}, summaries)
	assert.NotContains(t, r.stdout, "\t")

	r = runCLI(t, dir, "", "reset-offsets", "-g", "tab\there", "--to-latest")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "\n\"tab\\there\"  t      0 ")
}
