package eventlog_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
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

// ReplayLatest writes a value of the same size as the one the map holds
// for its key over that copy, which the map alone refers to: every value
// must stay its own, its key untouched, whether it was carved from a block
// with others or, too large for one, allocated with its key; and an
// update of another size, or after a tombstone, makes a copy of its own.
func TestReplayLatestOverwritesSameSizeValuesOnlyInTheirCopy(t *testing.T) {
	for _, poison := range []bool{false, true} {
		t.Run(fmt.Sprint("poison=", poison), func(t *testing.T) {
			l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: poison})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}))
			rng := rand.New(rand.NewPCG(5, 6))
			sizes := []int{0, 1, 7, 100, 3000, 6000} // the last two too large for a block
			model := map[string][]byte{}
			for i := range 40 {
				recs := make([]eventlog.Record, 100)
				for j := range recs {
					key := fmt.Sprintf("k%d", rng.IntN(60))
					if rng.IntN(3) == 0 {
						key = strings.Repeat(key, 1000) // a large key, with a small or large value
					}
					var value []byte
					if rng.IntN(12) > 0 {
						value = fmt.Appendf(nil, "%d-%d-", i, j)
						value = append(value, bytes.Repeat([]byte{byte(j)}, sizes[rng.IntN(len(sizes))])...)
					}
					recs[j] = eventlog.Record{Key: []byte(key), Value: value}
				}
				id := int32(i % 2)
				_, err := partition(t, l, "t", id).Append(ctx, recs, eventlog.AppendOptions{})
				require.NoError(t, err)
			}
			// The model: partitions in turn.
			for id := range int32(2) {
				p := partition(t, l, "t", id)
				for v, err := range p.Views(0) {
					require.NoError(t, err)
					if v.Value == nil {
						delete(model, string(v.Key))
					} else {
						model[string(v.Key)] = bytes.Clone(v.Value)
					}
				}
			}
			got, err := l.ReplayLatest(ctx, "t")
			require.NoError(t, err)
			require.Equal(t, model, got)
			// Overwrite each value once checked: a value sharing bytes with
			// one overwritten before it, or with a key, shows.
			keys := slices.Sorted(maps.Keys(model))
			for _, k := range keys {
				v, ok := got[k]
				require.True(t, ok, "key %.20q", k)
				require.Equal(t, model[k], v, "key %.20q", k)
				for i := range v {
					v[i] = 0xFF
				}
			}
			for _, k := range keys {
				_, ok := got[k]
				assert.True(t, ok, "key %.20q, after the values were overwritten", k)
			}
		})
	}
}
