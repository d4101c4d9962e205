package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestReplayLatest rebuilds the newest value per key from a compacted topic
// of several partitions, with tombstones, before and after cleaning, and
// compares it with a model built from the records appended.
func TestReplayLatest(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 4096})
	require.NoError(t, l.CreateTopic("cache", eventlog.TopicConfig{Partitions: 3, Durability: eventlog.DurabilityOS, CleanupPolicy: eventlog.CleanupCompact, MinCleanableDirtyRatio: 0.01}))
	prod, err := l.NewProducer(nil)
	require.NoError(t, err)
	defer prod.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	model := map[string][]byte{}
	for i := range 5000 {
		key := fmt.Sprintf("key-%d", rng.IntN(400))
		var value []byte
		if rng.IntN(10) > 0 {
			value = fmt.Appendf(nil, "value-%d", i)
			if rng.IntN(50) == 0 {
				value = []byte{} // empty, not null: kept
			}
		}
		_, err := prod.Send(ctx, eventlog.Record{Topic: "cache", Key: []byte(key), Value: value})
		require.NoError(t, err)
		if value == nil {
			delete(model, key)
		} else {
			model[key] = value
		}
	}
	got, err := l.ReplayLatest(ctx, "cache")
	require.NoError(t, err)
	assert.Equal(t, model, got)
	require.NoError(t, l.Compact(ctx, "cache"))
	got, err = l.ReplayLatest(ctx, "cache")
	require.NoError(t, err)
	assert.Equal(t, model, got, "the same after cleaning")
	for k, v := range got {
		got[k] = append(v, "!"...) // the caller owns the values
	}
	again, err := l.ReplayLatest(ctx, "cache")
	require.NoError(t, err)
	assert.Equal(t, model, again)
}

func TestReplay(t *testing.T) {
	l := consumerLog(t, 2, nil)
	produce(t, l, 0, 5, "a")
	produce(t, l, 1, 3, "b")
	var got []string
	require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
		got = append(got, fmt.Sprintf("%d/%d:%s", v.Partition, v.Offset, v.Value))
		if len(got) == 1 {
			produce(t, l, 1, 1, "late") // after the call: not replayed
		}
		return nil
	}))
	assert.Equal(t, []string{"0/0:a0", "0/1:a1", "0/2:a2", "0/3:a3", "0/4:a4", "1/0:b0", "1/1:b1", "1/2:b2"}, got)

	stop := errors.New("stop")
	n := 0
	err := l.Replay(ctx, "t", func(*eventlog.RecordView) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 2, n)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, l.Replay(cctx, "t", func(*eventlog.RecordView) error { return nil }), context.Canceled)
	assert.ErrorIs(t, l.Replay(ctx, "nope", func(*eventlog.RecordView) error { return nil }), eventlog.ErrTopicNotFound)
	_, err = l.ReplayLatest(ctx, "nope")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Replay(ctx, "t", func(*eventlog.RecordView) error { return nil }), eventlog.ErrClosed)
}

// ReplayLatest of a topic holding many records per key, one not compacted
// or not yet cleaned, returns a map sized for its keys, not for its
// records: the room made for records that only replace values would stay
// allocated, unused, for as long as the caller keeps the map.
func TestReplayLatestOfManyUpdatesKeepsLittle(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1 << 20})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	const records, keys = 200_000, 10
	batch := make([]eventlog.Record, 1000)
	for i := 0; i < records; i += len(batch) {
		for j := range batch {
			batch[j] = eventlog.Record{Key: []byte(fmt.Sprint("k", (i+j)%keys)), Value: []byte("v")}
		}
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Len(t, latest, keys)
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, kept, int64(1<<20), "bytes the map of %d keys keeps", keys)
	runtime.KeepAlive(latest)
}

// ReplayLatest of a topic whose keys were updated many times keeps about
// the bytes of the newest values: the copies of values replaced since are
// let go, even where they shared a block with a value that stays. (The
// sizes vary: a value of the size of the one it replaces is written over
// it, and leaves no copy to let go.)
func TestReplayLatestKeepsTheNewestValuesOnly(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{SegmentBytes: 1 << 20})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	const records, keys = 200_000, 20_000
	value := make([]byte, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]eventlog.Record, 1000)
	for i := 0; i < records; i += len(batch) {
		for j := range batch {
			batch[j] = eventlog.Record{Key: []byte(fmt.Sprint("k", rng.IntN(keys))), Value: value[:90+rng.IntN(11)]}
		}
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := 0
	for k, v := range latest {
		live += len(k) + len(v)
	}
	kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d keys, %d bytes of keys and values, %d bytes kept", len(latest), live, kept)
	assert.Less(t, kept, int64(3*live), "bytes kept for the newest values")
	runtime.KeepAlive(latest)
}
