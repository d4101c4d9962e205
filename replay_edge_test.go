package eventlog_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// ReplayLatest's map owns its keys and values, whatever their sizes: a key
// too large to be carved from the shared blocks, with an empty value, is a
// copy too, not the view's bytes, which PoisonViews overwrites once the
// loop moves on (and which point into a mapping Close unmaps).
func TestReplayLatestOwnsLargeKeyWithEmptyValue(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	big := bytes.Repeat([]byte("k"), 4000)
	_, err := p.Append(ctx, []eventlog.Record{{Key: big, Value: []byte{}}, {Key: []byte("small"), Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	got, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	require.Len(t, got, 2)
	value, ok := got[string(big)]
	assert.True(t, ok, "the large key, as appended")
	assert.Equal(t, []byte{}, value)
	assert.Equal(t, []byte("v"), got["small"])
	for k := range got {
		assert.False(t, strings.Contains(k, "\xdb\xdb\xdb\xdb"), "a key poisoned: the view's bytes, not a copy")
	}
}

// An empty value is not a tombstone: ReplayLatest keeps it as an empty,
// non-nil slice, even for an empty key, the first record it copies.
func TestReplayLatestKeepsEmptyValueOfEmptyKey(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	_, err := p.Append(ctx, []eventlog.Record{{Key: []byte{}, Value: []byte{}}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	got, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	require.Contains(t, got, "")
	assert.NotNil(t, got[""], "an empty value, not a null one")
}
