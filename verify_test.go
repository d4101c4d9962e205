package eventlog_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

func verify(t *testing.T, dir string) *eventlog.VerifyReport {
	t.Helper()
	r, err := eventlog.Verify(ctx, dir, nil)
	require.NoError(t, err)
	return r
}

func TestVerifyHealthyLogs(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 2048, IndexIntervalBytes: 256})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	appendN(t, partition(t, l, "t", 0), 150, eventlog.AppendOptions{})
	_, err := partition(t, l, "t", 1).Append(ctx, []eventlog.Record{rec("a", "b"), rec("c", "d")}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	cp := partition(t, l, "c", 0)
	for i := range 300 {
		putKV(t, cp, fmt.Sprintf("k%d", i%7), []byte(fmt.Sprintf("v%d", i)))
	}
	require.NoError(t, l.Compact(ctx, "c"))
	commitOffsets(t, l, "g", map[eventlog.TopicPartition]int64{{Topic: "t"}: 3})

	// While the Log is open, and after it closed.
	for _, r := range []*eventlog.VerifyReport{verify(t, dir), func() *eventlog.VerifyReport {
		require.NoError(t, l.Close())
		return verify(t, dir)
	}()} {
		assert.Empty(t, r.Problems)
		assert.False(t, r.Corrupt())
		assert.Equal(t, 3, r.Topics, "t, c and __consumer_offsets")
		assert.Equal(t, 4, r.Partitions)
		assert.Greater(t, r.Segments, 4)
		assert.Positive(t, r.Batches)
		assert.Less(t, r.Records, int64(150+2+300+1), "compaction removed records")
		assert.GreaterOrEqual(t, r.Records, int64(150+2+7+1))
	}
}

func TestVerifyFindsDamage(t *testing.T) {
	type found struct {
		kind eventlog.ProblemKind
		path string // relative to the partition directory
		pos  int64
	}
	cases := map[string]func(t *testing.T, dir string) found{
		"flipped byte in a closed segment": func(t *testing.T, dir string) found {
			logs := corruptSecondSegment(t, dir, &eventlog.Options{SegmentBytes: 4096})
			info, err := os.Stat(logs[1])
			require.NoError(t, err)
			// The damaged batch is the one around the middle byte.
			return found{eventlog.ProblemCorrupt, filepath.Base(logs[1]), batchStartBefore(t, logs[1], info.Size()/2)}
		},
		"torn tail": func(t *testing.T, dir string) found {
			seg := lastSegment(t, crashedLog(t, dir, &eventlog.Options{SegmentBytes: 4096}, 100))
			info, err := os.Stat(seg)
			require.NoError(t, err)
			appendBytes(t, seg, []byte("not a batch, only bytes a crash left behind, at least sixty-one of them..."))
			return found{eventlog.ProblemTornTail, filepath.Base(seg), info.Size()}
		},
		"damage before the recovery point": func(t *testing.T, dir string) found {
			seg := lastSegment(t, crashedLog(t, dir, &eventlog.Options{SegmentBytes: 1 << 20}, 50))
			data, err := os.ReadFile(seg)
			require.NoError(t, err)
			data[200] ^= 0xff
			require.NoError(t, os.WriteFile(seg, data, 0o644))
			return found{eventlog.ProblemCorrupt, filepath.Base(seg), batchStartBefore(t, seg, 200)}
		},
		"missing segment": func(t *testing.T, dir string) found {
			logs := corruptSecondSegment(t, dir, &eventlog.Options{SegmentBytes: 4096})
			require.NoError(t, os.Remove(logs[1]))
			return found{eventlog.ProblemCorrupt, filepath.Base(logs[2]), 0}
		},
		"inconsistent index": func(t *testing.T, dir string) found {
			logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100}, 200)
			index := strings.TrimSuffix(logs[0], ".log") + ".index"
			data := mustRead(t, index)
			data[len(data)-1]++ // the last entry's position
			require.NoError(t, os.WriteFile(index, data, 0o644))
			return found{eventlog.ProblemIndex, filepath.Base(index), int64(len(data) - 8)}
		},
		"oversized index": func(t *testing.T, dir string) found {
			logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100}, 200)
			index := strings.TrimSuffix(logs[0], ".log") + ".index"
			// More entries than a 4 KiB segment has batches: not read.
			require.NoError(t, os.Truncate(index, 1<<20))
			return found{eventlog.ProblemIndex, filepath.Base(index), 0}
		},
		"damaged topic.meta": func(t *testing.T, dir string) found {
			crashedLog(t, dir, nil, 3)
			meta := filepath.Join(dir, "topics", "t", "topic.meta")
			data := mustRead(t, meta)
			data[len(data)/2] ^= 1
			require.NoError(t, os.WriteFile(meta, data, 0o644))
			return found{eventlog.ProblemCorrupt, "../topic.meta", 0}
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := damage(t, dir)
			state := dirState(t, dir)
			r := verify(t, dir)
			assert.Equal(t, state, dirState(t, dir), "Verify changes nothing")
			require.NotEmpty(t, r.Problems)
			p := r.Problems[0]
			t.Log(p)
			assert.Equal(t, want.kind, p.Kind)
			assert.Equal(t, filepath.Join(dir, "topics", "t", "0", want.path), p.Path)
			assert.Equal(t, want.pos, p.Pos)
			assert.Equal(t, want.kind == eventlog.ProblemCorrupt, r.Corrupt())
			assert.NotEmpty(t, p.Reason)
		})
	}
}

// closedLog writes n single-record batches to topic "t" of a log in dir,
// closes it and returns its segment files.
func closedLog(t *testing.T, dir string, opts *eventlog.Options, n int) []string {
	t.Helper()
	l, err := eventlog.Open(dir, opts)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), n, eventlog.AppendOptions{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.Close())
	logs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
	require.NoError(t, err)
	return logs
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

// batchStartBefore returns the position of the batch of the segment at
// path that holds byte pos, walking the batch lengths.
func batchStartBefore(t *testing.T, path string, pos int64) int64 {
	t.Helper()
	data := mustRead(t, path)
	at := int64(0)
	for {
		size := 12 + int64(uint32(data[at+8])<<24|uint32(data[at+9])<<16|uint32(data[at+10])<<8|uint32(data[at+11]))
		if at+size > pos {
			return at
		}
		at += size
	}
}

func TestVerifyProgressAndCancel(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 64 << 10, Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	big := make([]eventlog.Record, 100)
	for i := range big {
		big[i] = eventlog.Record{Key: []byte("k"), Value: make([]byte, 1000)}
	}
	for range 120 {
		_, err := p.Append(ctx, big, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	var calls [][2]int64
	r, err := eventlog.Verify(ctx, dir, &eventlog.VerifyOptions{Progress: func(done, total int64) {
		calls = append(calls, [2]int64{done, total})
	}})
	require.NoError(t, err)
	require.Greater(t, len(calls), 2)
	for i, c := range calls {
		assert.Equal(t, r.Bytes, c[1], "total is the bytes of segment files")
		if i > 0 {
			assert.GreaterOrEqual(t, c[0], calls[i-1][0], "progress only moves forward")
		}
	}
	assert.Equal(t, [2]int64{r.Bytes, r.Bytes}, calls[len(calls)-1])
	assert.Greater(t, r.Bytes, int64(10<<20))

	c, cancel := context.WithCancel(ctx)
	_, err = eventlog.Verify(c, dir, &eventlog.VerifyOptions{Progress: func(done, total int64) {
		if done > total/2 {
			cancel()
		}
	}})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = eventlog.Verify(ctx, t.TempDir(), nil)
	assert.Error(t, err, "an empty directory is not a log")
}

func TestBatches(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	l := openLog(t, dir, &eventlog.Options{Now: clk.Now, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p := partition(t, l, "t", 0)
	codecs := eventlog.Codecs
	for i := range 40 {
		recs := []eventlog.Record{rec("a", fmt.Sprintf("v%d", i)), rec("b", "w"), {Key: []byte("c"), Timestamp: clk.Now().Add(time.Second)}}
		_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: codecs[i%len(codecs)]})
		require.NoError(t, err)
	}
	var all []eventlog.BatchInfo
	for b, err := range p.Batches(0) {
		require.NoError(t, err)
		all = append(all, b)
	}
	require.Len(t, all, 40)
	paths := map[string]bool{}
	for i, b := range all {
		assert.Equal(t, int64(3*i), b.BaseOffset)
		assert.Equal(t, int64(3*i+2), b.LastOffset)
		assert.Equal(t, 3, b.Records)
		assert.Equal(t, codecs[i%len(codecs)], b.Compression)
		assert.Equal(t, clk.Now().UnixMilli(), b.FirstTimestamp.UnixMilli())
		assert.Equal(t, clk.Now().Add(time.Second).UnixMilli(), b.MaxTimestamp.UnixMilli())
		assert.Equal(t, int64(-1), b.ProducerID)
		assert.False(t, b.Control || b.Transactional || b.LogAppendTime)
		if i > 0 && all[i-1].Path == b.Path {
			assert.Equal(t, all[i-1].Pos+all[i-1].Size, b.Pos, "batches follow each other in a file")
		} else {
			assert.Zero(t, b.Pos)
		}
		data := mustRead(t, b.Path)
		assert.Equal(t, b.BaseOffset, int64(binary.BigEndian.Uint64(data[b.Pos:])), "Pos is where the batch starts")
		paths[b.Path] = true
	}
	assert.Greater(t, len(paths), 2, "the batches span segments")

	// From an offset inside a batch: that batch first.
	var from []int64
	for b, err := range p.Batches(64) {
		require.NoError(t, err)
		from = append(from, b.BaseOffset)
		if len(from) == 2 {
			break
		}
	}
	assert.Equal(t, []int64{63, 66}, from)
	for _, err := range p.Batches(1000) {
		assert.ErrorIs(t, err, eventlog.ErrOffsetOutOfRange)
	}

	// Damage is reported where it is.
	require.NoError(t, l.Close())
	logs := corruptSecondSegment(t, t.TempDir(), &eventlog.Options{SegmentBytes: 4096})
	r := openReadOnly(t, filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(logs[0])))))
	var err error
	for _, e := range partition(t, r, "t", 0).Batches(0) {
		err = e
	}
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, logs[1], ce.Path)
}

// Verify of a log a writer is appending to — rolling segments, persisting
// recovery points and index files meanwhile — finds nothing wrong but,
// possibly, the batch being written.
func TestVerifyWhileWriting(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 2048, IndexIntervalBytes: 128, RecoveryPointInterval: time.Millisecond})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := p.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("value %d", i))}, eventlog.AppendOptions{}); err != nil {
				done <- err
				return
			}
		}
	}()
	for range 30 {
		r := verify(t, dir)
		for _, pr := range r.Problems {
			assert.Equal(t, eventlog.ProblemTornTail, pr.Kind, "%v", pr)
		}
	}
	close(stop)
	require.NoError(t, <-done)
	assert.Greater(t, p.LogEndOffset(), int64(0))
}

// TestVerifyListingMissesASegment: a segment the listing missed, though a
// later one is listed, is checked where the one before ends, not reported
// as a hole in the log; a segment that really is gone still is.
func TestVerifyListingMissesASegment(t *testing.T) {
	dir := t.TempDir()
	logs := closedLog(t, dir, &eventlog.Options{SegmentBytes: 4096}, 200)
	require.Greater(t, len(logs), 3)
	whole := verify(t, dir)
	require.Empty(t, whole.Problems)

	hide := filepath.Base(logs[1])
	misses := new(atomic.Int64)
	misses.Store(math.MaxInt64) // every listing
	r, err := eventlog.Verify(ctx, dir, &eventlog.VerifyOptions{FS: listingMissesFS{FS: eventlog.OSFS{}, hide: hide, misses: misses}})
	require.NoError(t, err)
	assert.Empty(t, r.Problems)
	assert.Equal(t, whole.Segments, r.Segments)
	assert.Equal(t, whole.Records, r.Records)

	require.NoError(t, os.Remove(logs[1]))
	r = verify(t, dir)
	require.NotEmpty(t, r.Problems)
	assert.Equal(t, eventlog.ProblemCorrupt, r.Problems[0].Kind)
	assert.Equal(t, logs[2], r.Problems[0].Path)
}

// TestVerifyTxnIndex: Verify checks each closed segment's .txnindex
// against the ABORT markers it reads: a file deleted, emptied, or naming a
// commit or the wrong first offset is an index problem at that file, which
// deleting the file and opening the log repairs.
func TestVerifyTxnIndex(t *testing.T) {
	// damage changes the file at path, whose entries are given, of the
	// segment at base; it returns the words the reason must hold.
	cases := map[string]func(t *testing.T, path string, base int64, entries [][]byte) string{
		"deleted": func(t *testing.T, path string, _ int64, _ [][]byte) string {
			require.NoError(t, os.Remove(path))
			return "missing, but the segment ends"
		},
		"emptied": func(t *testing.T, path string, _ int64, _ [][]byte) string {
			require.NoError(t, os.Truncate(path, 0))
			return "are not listed"
		},
		"lists a commit": func(t *testing.T, path string, base int64, entries [][]byte) string {
			// The transaction before an aborted one committed, with its
			// marker two offsets before the abort's.
			last := int64(binary.BigEndian.Uint64(entries[len(entries)-1][18:]))
			require.GreaterOrEqual(t, last-2, base)
			commit := append([]byte(nil), entries[len(entries)-1]...)
			binary.BigEndian.PutUint64(commit[10:], uint64(last-3))
			binary.BigEndian.PutUint64(commit[18:], uint64(last-2))
			var b []byte
			for _, e := range entries[:len(entries)-1] {
				b = append(b, e...)
			}
			b = append(append(b, commit...), entries[len(entries)-1]...)
			require.NoError(t, os.WriteFile(path, b, 0o644))
			return "where the segment holds no ABORT marker of that producer"
		},
		"a wrong first offset": func(t *testing.T, path string, _ int64, entries [][]byte) string {
			e := entries[len(entries)-1]
			binary.BigEndian.PutUint64(e[10:], binary.BigEndian.Uint64(e[10:])+1)
			var b []byte
			for _, e := range entries {
				b = append(b, e...)
			}
			require.NoError(t, os.WriteFile(path, b, 0o644))
			return "began at offset"
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			committed := abortedTxnTopic(t, l)
			require.NoError(t, l.Close())
			r := verify(t, dir)
			require.Empty(t, r.Problems, "a sound log")

			// The last closed segment whose file lists an abort.
			logs := globPartition(t, dir, ".log")
			var path string
			var base int64
			var entries [][]byte
			for _, seg := range logs[:len(logs)-1] {
				p := strings.TrimSuffix(seg, ".log") + ".txnindex"
				if b, err := os.ReadFile(p); err == nil && len(b) > 0 {
					path, base, entries = p, baseOf(t, seg), nil
					for i := 0; i < len(b); i += 34 {
						entries = append(entries, b[i:i+34])
					}
				}
			}
			require.NotEmpty(t, path)
			words := damage(t, path, base, entries)

			r = verify(t, dir)
			assert.False(t, r.Corrupt())
			if assert.Len(t, r.Problems, 1, "%v", r.Problems) {
				p := r.Problems[0]
				assert.Equal(t, eventlog.ProblemIndex, p.Kind)
				assert.Equal(t, path, p.Path)
				assert.Contains(t, p.Reason, words)
				assert.Contains(t, p.Reason, "read_committed readers")
			}

			if fileExists(path) {
				require.NoError(t, os.Remove(path))
			}
			l = openLog(t, dir, nil)
			assert.Equal(t, committed, replayValues(t, l, "t"))
			require.NoError(t, l.Close())
			assert.Empty(t, verify(t, dir).Problems, "rebuilt")
		})
	}
}

// The .txnindex of a cleanly closed log's active segment is complete, as
// Open trusts it: a damaged entry that still decodes, here one zeroed to
// list an abort at the segment's first offset, makes read_committed
// readers skip committed records and see aborted ones, and Verify must
// report it.
func TestVerifyActiveTxnIndexOfClosedLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	pr := txnProducer(t, l, "tx")
	var committed []string
	for i := range 6 {
		require.NoError(t, pr.BeginTransaction())
		v := fmt.Sprintf("v%d", i)
		send(t, pr, "t", 0, v)
		if i%3 == 2 {
			require.NoError(t, pr.AbortTransaction(ctx))
			continue
		}
		require.NoError(t, pr.CommitTransaction(ctx))
		committed = append(committed, v)
	}
	require.NoError(t, pr.Close())
	require.NoError(t, l.Close())
	require.Empty(t, verify(t, dir).Problems, "a sound log")

	logs := globPartition(t, dir, ".log")
	require.Len(t, logs, 1, "one segment, the active one")
	path := strings.TrimSuffix(logs[0], ".log") + ".txnindex"
	b := mustRead(t, path)
	require.Len(t, b, 2*34, "two aborts")
	clear(b[10:34]) // the first entry's first, last and last stable offsets
	require.NoError(t, os.WriteFile(path, b, 0o644))

	r := verify(t, dir)
	if assert.Len(t, r.Problems, 1, "%v", r.Problems) {
		p := r.Problems[0]
		assert.Equal(t, eventlog.ProblemIndex, p.Kind)
		assert.Equal(t, path, p.Path)
		assert.Contains(t, p.Reason, "read_committed readers")
	}
	l = openLog(t, dir, nil)
	assert.NotEqual(t, committed, replayValues(t, l, "t"), "Open trusts the file")
	require.NoError(t, l.Close())

	// What the report says to do.
	require.Contains(t, r.Problems[0].Reason, "delete it, and Open rebuilds it")
	require.NoError(t, os.Remove(path))
	l = openLog(t, dir, nil)
	assert.Equal(t, committed, replayValues(t, l, "t"))
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems, "rebuilt")
}

// A damaged producer-ids.meta, which Open does not read, fails every
// producer id allocation with a *CorruptError: Verify must report it.
func TestVerifyProducerIDsFile(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	pr := txnProducer(t, l, "tx")
	require.NoError(t, pr.Close())
	require.NoError(t, l.Close())
	require.Empty(t, verify(t, dir).Problems, "a sound log")

	path := filepath.Join(dir, "producer-ids.meta")
	b := mustRead(t, path)
	b[len(b)-1] ^= 1
	require.NoError(t, os.WriteFile(path, b, 0o644))

	r := verify(t, dir)
	assert.True(t, r.Corrupt())
	if assert.Len(t, r.Problems, 1, "%v", r.Problems) {
		assert.Equal(t, path, r.Problems[0].Path)
		assert.NotEmpty(t, r.Problems[0].Reason)
	}

	l = openLog(t, dir, nil)
	_, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx2"})
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce, "what Verify reported")
	assert.Equal(t, path, ce.Path)
}

// A compacted topic's offsets have gaps, whether or not its cleaner.meta,
// which only saves the cleaner work, is still there: Open reads the
// partition without it, and Verify must not call its segments corrupt.
func TestVerifyCompactedWithoutCleanerMeta(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	cp := partition(t, l, "c", 0)
	for i := range 60 {
		putKV(t, cp, fmt.Sprintf("k%d", i%5), []byte(fmt.Sprintf("v%d", i)))
	}
	require.NoError(t, l.Compact(ctx, "c"))
	want := readAll(t, cp, 0)
	require.NoError(t, l.Close())
	require.Empty(t, verify(t, dir).Problems, "a sound log")

	require.NoError(t, os.Remove(filepath.Join(dir, "topics", "c", "0", "cleaner.meta")))
	assert.Empty(t, verify(t, dir).Problems)
	l = openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	assert.Equal(t, want, readAll(t, partition(t, l, "c", 0), 0), "Open reads it all")
}
