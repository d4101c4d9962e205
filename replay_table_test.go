package eventlog_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// ReplayLatest takes each record's key and value from its batch's table,
// without making its view, and Replay makes views: both must read what
// the copying Partition.Read reads, filtered as read_committed, on random
// logs of every codec with null and empty keys and values, tombstones,
// headers, timestamps too far apart for a table, aborted and committed
// transactions (and their markers), a transaction left open, batches large
// enough for the read-ahead verifier to table them, and, on a compacted
// topic, the gaps and emptied batches of a cleaning.
func TestReplayLatestMatchesCommittedReads(t *testing.T) {
	seeds := uint64(3)
	if testing.Short() {
		seeds = 1
	}
	for _, compact := range []bool{false, true} {
		for seed := range seeds {
			t.Run(fmt.Sprintf("compact=%v/seed=%d", compact, seed), func(t *testing.T) {
				testReplayLatestMatchesCommittedReads(t, compact, seed)
			})
		}
	}
}

func testReplayLatestMatchesCommittedReads(t *testing.T, compact bool, seed uint64) {
	// Without compaction, segments and batches large enough for a
	// verifier; with it, small segments, that a cleaning merges.
	cfg := eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS, Retention: eventlog.RetainForever, RetentionBytes: -1, SegmentBytes: 8 << 20}
	appends, batch := 200, 400
	if compact {
		cfg.CleanupPolicy, cfg.MinCleanableDirtyRatio, cfg.SegmentBytes = eventlog.CleanupCompact, 1, 32<<10
		appends, batch = 200, 50
	}
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", cfg))
	rng := rand.New(rand.NewPCG(seed, 8))
	noise := make([]byte, 64<<10) // values made of it hardly compress
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	later := time.Now().Add(40 * 24 * time.Hour) // more than 2^31 ms on: not tabled
	record := func() eventlog.Record {
		var r eventlog.Record
		switch n := rng.IntN(100); {
		case n < 4 && !compact: // a compacted topic refuses null keys
		case n < 6:
			r.Key = []byte{}
		default:
			r.Key = fmt.Appendf(nil, "key-%d", rng.IntN(500))
		}
		switch n := rng.IntN(100); {
		case n < 10: // a tombstone
		case n < 15:
			r.Value = []byte{}
		case n < 17:
			r.Value = bytes.Repeat([]byte{byte(n)}, 3000+rng.IntN(3000))
		default:
			at := rng.IntN(len(noise) - 200)
			r.Value = bytes.Clone(noise[at : at+rng.IntN(200)])
		}
		if rng.IntN(5) == 0 {
			for i := range 1 + rng.IntN(3) {
				h := eventlog.Header{Key: fmt.Sprintf("h%d", i)}
				if rng.IntN(3) > 0 {
					h.Value = fmt.Appendf(nil, "v%d", rng.IntN(100))
				}
				r.Headers = append(r.Headers, h)
			}
		}
		if rng.IntN(5000) == 0 {
			r.Timestamp = later
		}
		return r
	}
	codec := func() eventlog.Compression {
		return eventlog.Compression(rng.IntN(int(eventlog.CompressionZstd) + 1))
	}

	parts := make([]*eventlog.Partition, 2)
	for id := range parts {
		parts[id] = partition(t, l, "t", int32(id))
	}
	txns := make([]*eventlog.Producer, eventlog.CompressionZstd+1)
	for c := range txns {
		p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: fmt.Sprintf("txn-%d", c), Partitioner: eventlog.ManualPartitioner{}, Linger: -1, Compression: eventlog.Compression(c)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = p.Close() })
		txns[c] = p
	}
	aborted := map[int32]map[int64]bool{0: {}, 1: {}}
	transaction := func(p *eventlog.Producer, end func() error) (sent []eventlog.RecordMetadata) {
		require.NoError(t, p.BeginTransaction())
		for range 1 + rng.IntN(10) {
			r := record()
			r.Topic, r.Partition = "t", int32(rng.IntN(len(parts)))
			md, err := p.Send(ctx, r)
			require.NoError(t, err)
			sent = append(sent, md)
		}
		if end != nil {
			require.NoError(t, end())
		}
		return sent
	}
	for range appends {
		if rng.IntN(8) == 0 {
			p := txns[rng.IntN(len(txns))]
			if rng.IntN(2) == 0 {
				transaction(p, func() error { return p.CommitTransaction(ctx) })
				continue
			}
			for _, md := range transaction(p, func() error { return p.AbortTransaction(ctx) }) {
				aborted[md.Partition][md.Offset] = true
			}
			continue
		}
		recs := make([]eventlog.Record, 1+rng.IntN(batch))
		for i := range recs {
			recs[i] = record()
		}
		_, err := parts[rng.IntN(len(parts))].Append(ctx, recs, eventlog.AppendOptions{Compression: codec()})
		require.NoError(t, err)
	}
	// A transaction left open holds back its partitions' last stable
	// offsets, and what follows there.
	transaction(txns[0], nil)
	for _, p := range parts {
		_, err := p.Append(ctx, []eventlog.Record{record(), record()}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}

	check := func(what string) {
		t.Helper()
		// The model: the committed records below each last stable
		// offset, read as copies.
		var committed []eventlog.Record
		model := map[string][]byte{}
		for id, p := range parts {
			stable := p.LastStableOffset()
			for off := p.LogStartOffset(); off < stable; {
				recs, err := p.Read(off, 1<<20)
				require.NoError(t, err)
				require.NotEmpty(t, recs)
				for _, r := range recs {
					if r.Offset < stable && !aborted[int32(id)][r.Offset] {
						committed = append(committed, r)
					}
				}
				off = recs[len(recs)-1].Offset + 1
			}
		}
		for _, r := range committed {
			switch {
			case r.Key == nil:
			case r.Value == nil:
				delete(model, string(r.Key))
			default:
				model[string(r.Key)] = r.Value
			}
		}
		latest, err := l.ReplayLatest(ctx, "t")
		require.NoError(t, err)
		assert.Equal(t, model, latest, "%s: ReplayLatest", what)
		for k, v := range latest {
			// An empty value stays an empty, non-nil slice.
			require.NotNil(t, v, "%s: ReplayLatest: key %q", what, k)
		}

		i := 0
		require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
			require.Less(t, i, len(committed), "%s: Replay: more records than read", what)
			want, got := committed[i], v.Clone()
			want.Topic = "t"
			if !sameRecord(want, got) { // assert.Equal alone is slow under -race
				assert.Equal(t, want, got, "%s: Replay: record %d", what, i)
			}
			i++
			return nil
		}))
		assert.Equal(t, len(committed), i, "%s: Replay: records", what)
	}
	check("before cleaning")
	if compact {
		require.NoError(t, l.Compact(ctx, "t"))
		check("after cleaning")
	}
}

// sameRecord reports whether a and b are the same record, null and empty
// keys, values and header values told apart.
func sameRecord(a, b eventlog.Record) bool {
	same := func(x, y []byte) bool { return (x == nil) == (y == nil) && bytes.Equal(x, y) }
	if a.Topic != b.Topic || a.Partition != b.Partition || a.Offset != b.Offset || !a.Timestamp.Equal(b.Timestamp) ||
		!same(a.Key, b.Key) || !same(a.Value, b.Value) || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i, h := range a.Headers {
		if h.Key != b.Headers[i].Key || !same(h.Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}
