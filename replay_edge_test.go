package eventlog_test

import (
	"bytes"
	"fmt"
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

// Tombstones and null keys: a key deleted then written again has its new
// value, a key whose last record is a tombstone is absent, a record with a
// null key is skipped (a delete topic takes them; a compacted one refuses
// them), and a key found in several partitions has the value of the last
// partition holding it, a tombstone there deleting it whatever the
// partitions before hold.
func TestReplayLatestTombstonesAndNullKeys(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 3, Durability: eventlog.DurabilityOS}))
	appendTo := func(id int32, recs ...eventlog.Record) {
		t.Helper()
		_, err := partition(t, l, "t", id).Append(ctx, recs, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	tomb := func(key string) eventlog.Record { return eventlog.Record{Key: []byte(key)} }
	appendTo(0, rec("again", "1"), tomb("again"), rec("again", "2"), rec("gone", "1"),
		eventlog.Record{Value: []byte("no key")}, rec("shared", "p0"), rec("shared-deleted", "p0"), tomb("gone"))
	appendTo(1, rec("shared", "p1"), rec("shared-deleted", "p1"))
	appendTo(2, rec("shared", "p2"), tomb("shared-deleted"))
	got, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"again": []byte("2"), "shared": []byte("p2")}, got)

	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, Durability: eventlog.DurabilityOS}))
	_, err = partition(t, l, "c", 0).Append(ctx, []eventlog.Record{{Value: []byte("no key")}}, eventlog.AppendOptions{})
	assert.ErrorIs(t, err, eventlog.ErrInvalidRecord, "a compacted topic refuses a null key")
}

// ReplayLatest's map outlives the segments it was read from: compaction
// replacing them and Close unmapping them leave it as it was, for values
// of every size, with views poisoned as they expire.
func TestReplayLatestOutlivesCompactionAndClose(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true, SegmentBytes: 8 << 10})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS, CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: 0.01}))
	p := partition(t, l, "t", 0)
	model := map[string][]byte{}
	for i := range 300 {
		key := fmt.Sprintf("k%d", i%40)
		value := bytes.Repeat([]byte{byte(i)}, []int{0, 5, 2100, 5000}[i%4])
		if i%4 == 0 && i%8 == 0 {
			key = strings.Repeat(key, 1100) // a large key with an empty value
		}
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte(key), Value: value}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		model[key] = value
	}
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	require.NoError(t, l.Compact(ctx, "t"))
	again, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	assert.True(t, equalMaps(model, latest), "the map read before the compaction")
	assert.True(t, equalMaps(model, again), "the map read after it")
}

// equalMaps compares maps of large keys without printing them.
func equalMaps(want, got map[string][]byte) bool {
	if len(want) != len(got) {
		return false
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || !bytes.Equal(v, g) || (v == nil) != (g == nil) {
			return false
		}
	}
	return true
}
