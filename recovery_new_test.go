package eventlog_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A log that Open creates has nothing to recover: CleanShutdown, as after
// a clean shutdown, not as after a crash. Reopened after a crash, it is
// not clean.
func TestNewLogRecoveryIsClean(t *testing.T) {
	for name, dir := range map[string]string{
		"new directory":   filepath.Join(t.TempDir(), "new"),
		"empty directory": t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			l := openLog(t, dir, nil)
			assert.True(t, l.Recovery().CleanShutdown)
			assert.True(t, l.Stats().Recovery.CleanShutdown)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
			require.NoError(t, eventlog.Abandon(l))
			l = openLog(t, dir, nil)
			assert.False(t, l.Recovery().CleanShutdown, "reopened after a crash")
			require.NoError(t, l.Close())
		})
	}
}
