package eventlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func goldenSnapshot() *producerSnapshot {
	return &producerSnapshot{
		offset:     5000,
		txnSegment: 4096,
		txnEntries: 2,
		producers: map[int64]*producerEntry{
			7: {epoch: 3, coordinatorEpoch: 1, lastTimestamp: 1_700_000_000_123, txnFirst: 4990, batches: []sequencedBatch{
				{firstSeq: 0, lastSeq: 9, firstOffset: 4990, lastOffset: 4999, timestamp: 1_700_000_000_100},
			}},
			1 << 40: {epoch: 0, lastTimestamp: 1_700_000_000_000, txnFirst: -1, batches: []sequencedBatch{
				{firstSeq: 2147483640, lastSeq: 2147483647, firstOffset: 10, lastOffset: 17, timestamp: 1},
				{firstSeq: 0, lastSeq: 4, firstOffset: 18, lastOffset: 22, timestamp: 2},
			}},
		},
	}
}

// TestProducerSnapshotGolden pins the format of a producer-state snapshot,
// envelope included (regenerate with go test -run Golden -update).
func TestProducerSnapshotGolden(t *testing.T) {
	snap := goldenSnapshot()
	file := encodeMeta(snapshotVersion, encodeProducerSnapshot(snap))
	want := golden(t, "meta/producer_snapshot", file)
	assert.Equal(t, want, file)

	fsys := NewMemFS()
	require.NoError(t, fsys.WriteFile("x.snapshot", want, 0o644))
	version, payload, err := readMetaFile(fsys, "x.snapshot")
	require.NoError(t, err)
	got, err := decodeProducerSnapshot("x.snapshot", version, payload)
	require.NoError(t, err)
	assert.Equal(t, snap, got)

	bad := func(mutate func(s *producerSnapshot)) []byte {
		s := goldenSnapshot()
		mutate(s)
		return encodeProducerSnapshot(s)
	}
	for name, b := range map[string][]byte{
		"truncated":         payload[:len(payload)-3],
		"trailing":          append(append([]byte(nil), payload...), 0),
		"negative offset":   bad(func(s *producerSnapshot) { s.offset = -1 }),
		"txn segment past":  bad(func(s *producerSnapshot) { s.txnSegment = 6000 }),
		"open txn past":     bad(func(s *producerSnapshot) { s.producers[7].txnFirst = 5000 }),
		"batch past":        bad(func(s *producerSnapshot) { s.producers[7].batches[0].lastOffset = 5000 }),
		"negative producer": bad(func(s *producerSnapshot) { s.producers[-2] = &producerEntry{txnFirst: -1} }),
		"negative sequence": bad(func(s *producerSnapshot) { s.producers[7].batches[0].firstSeq = -4 }),
		"offsets out of order": bad(func(s *producerSnapshot) {
			s.producers[7].batches[0].firstOffset = 4999
			s.producers[7].batches[0].lastOffset = 4990
		}),
	} {
		_, err := decodeProducerSnapshot("x.snapshot", snapshotVersion, b)
		assert.ErrorIs(t, err, ErrCorrupt, name)
	}
	_, err = decodeProducerSnapshot("x.snapshot", snapshotVersion+1, payload)
	assert.ErrorIs(t, err, ErrCorrupt, "unknown version")
}

// TestProducerIDsGolden pins the format of producer-ids.meta.
func TestProducerIDsGolden(t *testing.T) {
	fsys := NewMemFS()
	var a producerIDs
	a.init(fsys, "/d")
	require.NoError(t, fsys.MkdirAll("/d", 0o755))
	id, err := a.allocate()
	require.NoError(t, err)
	assert.Equal(t, int64(1), id)
	file, err := fsys.ReadFile("/d/producer-ids.meta")
	require.NoError(t, err)
	assert.Equal(t, golden(t, "meta/producer_ids", file), file)
	_, payload, err := readMetaFile(fsys, "/d/producer-ids.meta")
	require.NoError(t, err)
	_, err = decodeProducerIDs("p", producerIDsVersion, payload[:4])
	assert.ErrorIs(t, err, ErrCorrupt)
	_, err = decodeProducerIDs("p", producerIDsVersion, make([]byte, 8))
	assert.ErrorIs(t, err, ErrCorrupt, "id 0 is never next")
}

func FuzzProducerSnapshot(f *testing.F) {
	f.Add(encodeProducerSnapshot(goldenSnapshot()))
	f.Add(encodeProducerSnapshot(&producerSnapshot{}))
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := decodeProducerSnapshot("f.snapshot", snapshotVersion, payload)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		// What decodes encodes back to the same bytes: nothing is dropped
		// or invented on the way.
		assert.Equal(t, payload, encodeProducerSnapshot(s))
	})
}

// openTestPartition opens a Log on fsys with one topic and returns it with
// its partition.
func openTestPartition(t *testing.T, fsys FS, cfg TopicConfig) (*Log, *Partition) {
	t.Helper()
	l, err := Open("/log", &Options{FS: fsys, RecoveryPointInterval: time.Hour})
	require.NoError(t, err)
	if _, err := l.TopicConfig("t"); err != nil {
		require.NoError(t, l.CreateTopic("t", cfg))
	}
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	return l, p
}

func appendIdem(t *testing.T, p *Partition, id ProducerID, seq int32, value string) int64 {
	t.Helper()
	off, err := p.Append(context.Background(), []Record{{Key: []byte("k"), Value: []byte(value)}}, AppendOptions{Producer: id, Sequence: seq})
	require.NoError(t, err)
	return off
}

// TestSnapshotPastLogEndRemoved: a snapshot that describes records a crash
// took is removed at Open, durably, and the state is rebuilt without them.
func TestSnapshotPastLogEndRemoved(t *testing.T) {
	fsys := NewMemFS()
	l, p := openTestPartition(t, fsys, TopicConfig{Durability: DurabilityOS})
	id := ProducerID{ID: 9}
	for i := range 5 {
		appendIdem(t, p, id, int32(i), fmt.Sprint(i))
		if i == 1 {
			require.NoError(t, p.syncTo(p.written.Load()))
		}
	}
	// The snapshot at offset 5 is durable, the records after offset 2 are
	// not: the crash takes them.
	require.NoError(t, l.checkpointAll())
	dir := p.dir
	require.NoError(t, Abandon(l))
	fsys.Crash(CrashOptions{Mode: CrashDropUnsynced})

	l, p = openTestPartition(t, fsys, TopicConfig{})
	defer l.Close()
	end := p.LogEndOffset()
	require.Equal(t, int64(2), end, "the crash took the unsynced records")
	names, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	for _, name := range names {
		if off, ok := parseSegmentName(name, snapshotExt); ok {
			assert.LessOrEqual(t, off, end, "snapshot %s past the log end", name)
		}
	}
	// The producer's next sequence is the one after what survived.
	assert.Equal(t, end, appendIdem(t, p, id, int32(end), "again"))
}

// TestDamagedSnapshotRebuilds: a snapshot that does not decode makes Open
// rebuild the producer state from the log.
func TestDamagedSnapshotRebuilds(t *testing.T) {
	fsys := NewMemFS()
	l, p := openTestPartition(t, fsys, TopicConfig{})
	id := ProducerID{ID: 9}
	for i := range 4 {
		appendIdem(t, p, id, int32(i), fmt.Sprint(i))
	}
	dir := p.dir
	require.NoError(t, l.Close())
	path := filepath.Join(dir, segmentFileName(4, snapshotExt))
	b, err := fsys.ReadFile(path)
	require.NoError(t, err)
	b[len(b)-6] ^= 0xff
	require.NoError(t, fsys.WriteFile(path, b, 0o644))
	for _, off := range []int64{0} { // the first, empty snapshot: damage it too
		require.NoError(t, fsys.WriteFile(filepath.Join(dir, segmentFileName(off, snapshotExt)), []byte("junk"), 0o644))
	}

	l, p = openTestPartition(t, fsys, TopicConfig{})
	defer l.Close()
	assert.Equal(t, int64(3), appendIdem(t, p, id, 3, "3"), "the last batch is recognised after the rebuild")
	_, err = p.Append(context.Background(), []Record{{Key: []byte("k")}}, AppendOptions{Producer: id, Sequence: 7})
	assert.ErrorIs(t, err, ErrOutOfOrderSequence)
}
