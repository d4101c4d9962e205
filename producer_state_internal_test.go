package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
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

// TestProducerSnapshotGolden pins the format of a producer-state snapshot
// (regenerate with go test -run Golden -update).
func TestProducerSnapshotGolden(t *testing.T) {
	snap := goldenSnapshot()
	file := encodeProducerSnapshot(snap)
	want := golden(t, "meta/producer_snapshot", file)
	assert.Equal(t, want, file)
	got, err := decodeProducerSnapshot("x.snapshot", snap.offset, want)
	require.NoError(t, err)
	assert.Equal(t, snap, got)

	bad := func(mutate func(s *producerSnapshot)) []byte {
		s := goldenSnapshot()
		mutate(s)
		return encodeProducerSnapshot(s)
	}
	entry := func(i int) []byte { return file[snapshotHeaderSize+i*snapshotEntrySize:][:snapshotEntrySize] }
	for name, b := range map[string][]byte{
		"truncated":         file[:len(file)-3],
		"trailing":          append(bytes.Clone(file), 0),
		"no entries":        sealSnapshot(make([]byte, 4)),
		"no txnindex entry": sealSnapshot(append(binary.BigEndian.AppendUint32(nil, 1), entry(1)...)),
		"producers out of order": sealSnapshot(slices.Concat(binary.BigEndian.AppendUint32(nil, 4),
			entry(0), entry(3), entry(1), entry(2))),
		"txn segment past":     bad(func(s *producerSnapshot) { s.txnSegment = 6000 }),
		"open txn past":        bad(func(s *producerSnapshot) { s.producers[7].txnFirst = 5000 }),
		"batch past":           bad(func(s *producerSnapshot) { s.producers[7].batches[0].lastOffset = 5000 }),
		"negative producer":    bad(func(s *producerSnapshot) { s.producers[-2] = &producerEntry{txnFirst: -1} }),
		"negative sequence":    bad(func(s *producerSnapshot) { s.producers[7].batches[0].lastSeq = -4 }),
		"six batches":          bad(func(s *producerSnapshot) { s.producers[1<<40].batches = sixBatches() }),
		"offsets out of order": bad(func(s *producerSnapshot) { s.producers[7].batches[0].firstOffset = 5001 }),
		"batches out of order": bad(func(s *producerSnapshot) {
			b := s.producers[1<<40].batches
			b[0], b[1] = b[1], b[0]
		}),
	} {
		_, err := decodeProducerSnapshot("x.snapshot", 5000, b)
		assert.ErrorIs(t, err, ErrCorrupt, name)
	}
	_, err = decodeProducerSnapshot("x.snapshot", -1, file)
	assert.ErrorIs(t, err, ErrCorrupt, "negative offset")
	_, err = decodeProducerSnapshot("x.snapshot", 4000, file)
	assert.ErrorIs(t, err, ErrCorrupt, "batches past the offset in its name")
	version2 := bytes.Clone(file)
	version2[1] = 2
	_, err = decodeProducerSnapshot("x.snapshot", 5000, version2)
	assert.ErrorIs(t, err, ErrCorrupt, "unknown version")
}

// TestProducerSnapshotLayout reads a snapshot as a Kafka broker does:
// version 1, a CRC-32C of the rest, then 46-byte entries, where the last
// entry of a producer is what the broker loads.
func TestProducerSnapshotLayout(t *testing.T) {
	snap := goldenSnapshot()
	b := encodeProducerSnapshot(snap)
	be := binary.BigEndian
	require.Equal(t, uint16(1), be.Uint16(b))
	require.Equal(t, crc32.Checksum(b[6:], crc32.MakeTable(crc32.Castagnoli)), be.Uint32(b[2:]))
	n := int(be.Uint32(b[6:]))
	require.Len(t, b, snapshotHeaderSize+n*snapshotEntrySize)
	loaded := map[int64]snapshotEntry{} // read at Kafka's field offsets
	for i := range n {
		e := b[snapshotHeaderSize+i*snapshotEntrySize:]
		loaded[int64(be.Uint64(e))] = snapshotEntry{
			id: int64(be.Uint64(e)), epoch: int16(be.Uint16(e[8:])), lastSeq: int32(be.Uint32(e[10:])), lastOffset: int64(be.Uint64(e[14:])),
			offsetDelta: int32(be.Uint32(e[22:])), timestamp: int64(be.Uint64(e[26:])),
			coordinatorEpoch: int32(be.Uint32(e[34:])), txnFirst: int64(be.Uint64(e[38:])),
		}
	}
	assert.Equal(t, map[int64]snapshotEntry{
		-1: {id: -1, epoch: -1, lastSeq: 2, lastOffset: 4096, coordinatorEpoch: -1, txnFirst: -1},
		7: {id: 7, epoch: 3, lastSeq: 9, lastOffset: 4999, offsetDelta: 9, timestamp: 1_700_000_000_123, coordinatorEpoch: 1,
			txnFirst: 4990},
		1 << 40: {id: 1 << 40, epoch: 0, lastSeq: 4, lastOffset: 22, offsetDelta: 4, timestamp: 1_700_000_000_000, txnFirst: -1},
	}, loaded, "a broker's view: the last entry of each producer, with its last timestamp")
}

func sixBatches() []sequencedBatch {
	var b []sequencedBatch
	for i := range int64(6) {
		b = append(b, sequencedBatch{firstSeq: int32(i), lastSeq: int32(i), firstOffset: i, lastOffset: i, timestamp: i})
	}
	return b
}

// sealSnapshot returns a snapshot file of the entries count and entries
// in body: version 1 and their CRC before them.
func sealSnapshot(body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

// TestProducerIDsGolden pins the format of producer-ids.meta.
func TestProducerIDsGolden(t *testing.T) {
	fsys := NewMemFS()
	l, err := Open("/d", &Options{FS: fsys})
	require.NoError(t, err)
	defer l.Close()
	id, err := l.txns.ids.allocate()
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
	f.Add(encodeProducerSnapshot(goldenSnapshot())[6:])
	f.Add(encodeProducerSnapshot(&producerSnapshot{offset: 5000})[6:])
	f.Fuzz(func(t *testing.T, body []byte) {
		file := sealSnapshot(body) // the CRC is right: the decoder's checks are fuzzed
		s, err := decodeProducerSnapshot("f.snapshot", 5000, file)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		// What decodes encodes back to the same bytes: nothing is dropped
		// or invented on the way.
		assert.Equal(t, file, encodeProducerSnapshot(s))
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
