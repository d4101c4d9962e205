package eventlog_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Crash tests, as in admin_crash_test.go, of the work the Log also does in
// the background: a retention check, and a compaction run as a whole (the
// steps of its swap have their own tests in compaction_crash_test.go).

func TestCrashDuringCompact(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: func(t *testing.T, l *eventlog.Log) {
			require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
			p := partition(t, l, "c", 0)
			for i := range 80 {
				_, err := p.Append(ctx, []eventlog.Record{rec(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i))}, eventlog.AppendOptions{})
				require.NoError(t, err)
			}
		},
		op:    func(l *eventlog.Log) error { return l.Compact(ctx, "c") },
		state: logState,
	})
}

func TestCrashDuringRetention(t *testing.T) {
	runAdminCrash(t, adminCrashCase{
		setup: func(t *testing.T, l *eventlog.Log) {
			require.NoError(t, l.CreateTopic("r", eventlog.TopicConfig{RetentionBytes: 2048}))
			appendN(t, partition(t, l, "r", 0), 60, eventlog.AppendOptions{})
		},
		op:    eventlog.EnforceRetention,
		state: logState,
	})
}
