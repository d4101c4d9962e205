package eventlog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A record without a key that DeleteRecords deletes after AlterTopicConfig's
// key check read it, but before the check refused the switch to compaction
// for it, refuses nothing: it is gone, as a retry would find. The check
// goes on from the new log start offset.
func TestAlterTopicConfigToCompactWhileKeylessRecordIsDeleted(t *testing.T) {
	fsys := eventlog.NewMemFS()
	clk := newClock()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, Now: clk.Now, SegmentAge: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("no key")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	clk.Advance(2 * time.Hour)
	appendN(t, p, 3, eventlog.AppendOptions{}) // in a segment of their own, at offset 1

	// The check reads the keyless record, the first segment's only one,
	// then stops where its read maps the second segment.
	reached, resume := pauseFSAt(fsys, eventlog.OpMmap, fmt.Sprintf("%020d.log", 1))
	altered := make(chan error)
	go func() {
		altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete})
	}()
	<-reached
	start, err := l.DeleteRecords(ctx, "t", 0, 1)
	close(resume)
	require.NoError(t, err)
	require.Equal(t, int64(1), start)
	assert.NoError(t, <-altered)
	fsys.SetFault(nil)

	got, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.CleanupCompactDelete, got.CleanupPolicy)
	assert.Len(t, readAll(t, p, 1), 3)
}
