package eventlog_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// spanningAbortTopic writes, to partition 0 of topic "t" with 1 KiB
// segments, 30 single-record transactions of which every third aborts, and
// then an aborted transaction of two large records that fall in two
// segments, so that its first offset lies in the segment before its
// marker's, and a few committed ones after it, which close that segment.
// It returns the committed values, sorted, and the first offset of the
// spanning transaction.
func spanningAbortTopic(t *testing.T, l *eventlog.Log) (committed []string, spanFirst int64) {
	t.Helper()
	committed = abortedTxnTopic(t, l)
	pr := txnProducer(t, l, "tx2")
	require.NoError(t, pr.BeginTransaction())
	big := strings.Repeat("x", 600)
	r, err := pr.Send(ctx, eventlog.Record{Topic: "t", Partition: 0, Value: []byte("span-a" + big)})
	require.NoError(t, err)
	spanFirst = r.Offset
	send(t, pr, "t", 0, "span-b"+big)
	require.NoError(t, pr.AbortTransaction(ctx))
	for i := range 12 {
		require.NoError(t, pr.BeginTransaction())
		v := fmt.Sprintf("w%02d", i)
		send(t, pr, "t", 0, v)
		require.NoError(t, pr.CommitTransaction(ctx))
		committed = append(committed, v)
	}
	require.NoError(t, pr.Close())
	sort.Strings(committed)
	return committed, spanFirst
}

// shortValues cuts the values of spanningAbortTopic's large records short,
// for a failure to be read.
func shortValues(values []string) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = v[:min(len(v), 8)]
	}
	return out
}

// closedTxnIndexes returns the .txnindex paths of the partition's closed
// segments, in offset order, with their bases.
func closedTxnIndexes(t *testing.T, partDir string) (paths []string, bases []int64) {
	t.Helper()
	logs := globPartitionOf(t, partDir, ".log")
	require.Greater(t, len(logs), 3)
	for _, seg := range logs[:len(logs)-1] {
		var base int64
		_, err := fmt.Sscanf(filepath.Base(seg), "%020d.log", &base)
		require.NoError(t, err)
		paths = append(paths, strings.TrimSuffix(seg, ".log")+".txnindex")
		bases = append(bases, base)
	}
	return paths, bases
}

// cutTxnIndexes cuts each of paths that is not empty to the size that to
// returns for its size, and returns how many it cut.
func cutTxnIndexes(t *testing.T, paths []string, to func(size int64) int64) int {
	t.Helper()
	n := 0
	for _, path := range paths {
		info, err := os.Stat(path)
		require.NoError(t, err)
		if info.Size() > 0 {
			require.NoError(t, os.Truncate(path, to(info.Size())))
			n++
		}
	}
	return n
}

// TestTxnIndexCutShort: a closed segment's .txnindex cut short at an entry
// boundary — fewer whole entries, or its last one gone — cannot be told at
// Open from one with fewer aborts; read_committed readers must still skip
// the aborted records it no longer lists, including those of a transaction
// whose first offset lies in the segment before, and the file is mended.
func TestTxnIndexCutShort(t *testing.T) {
	const entry = 34
	type cut func(t *testing.T, paths []string, spanSeg int) int
	cuts := map[string]cut{
		"every file emptied": func(t *testing.T, paths []string, _ int) int {
			return cutTxnIndexes(t, paths, func(int64) int64 { return 0 })
		},
		"last entry of each file": func(t *testing.T, paths []string, _ int) int {
			return cutTxnIndexes(t, paths, func(size int64) int64 { return size - entry })
		},
		"spanning abort's file, to fewer entries": func(t *testing.T, paths []string, spanSeg int) int {
			info, err := os.Stat(paths[spanSeg])
			require.NoError(t, err)
			require.Positive(t, info.Size())
			require.NoError(t, os.Truncate(paths[spanSeg], 0))
			return 1
		},
	}
	for name, cutFiles := range cuts {
		for _, crashed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, crashed=%v", name, crashed), func(t *testing.T) {
				dir := t.TempDir()
				l := openLog(t, dir, nil)
				committed, spanFirst := spanningAbortTopic(t, l)
				p := partition(t, l, "t", 0)
				end := p.LogEndOffset()
				aborted := p.AbortedTransactions(0, end)
				require.Len(t, aborted, 11)
				span := aborted[len(aborted)-1]
				require.Equal(t, spanFirst, span.FirstOffset)
				if crashed {
					require.NoError(t, eventlog.CheckpointRecoveryPoints(l))
					require.NoError(t, eventlog.Abandon(l))
				} else {
					require.NoError(t, l.Close())
				}

				partDir := filepath.Join(dir, "topics", "t", "0")
				paths, bases := closedTxnIndexes(t, partDir)
				spanSeg := sort.Search(len(bases), func(i int) bool { return bases[i] > span.MarkerOffset }) - 1
				require.Less(t, spanSeg, len(bases))
				require.Less(t, span.FirstOffset, bases[spanSeg], "the spanning transaction begins in the segment before its marker's")
				contents := map[string][]byte{}
				for _, path := range paths {
					b, err := os.ReadFile(path)
					require.NoError(t, err)
					contents[path] = b
				}
				cut := cutFiles(t, paths, spanSeg)
				require.Positive(t, cut)

				l = openLog(t, dir, nil)
				p = partition(t, l, "t", 0)
				rebuilt := l.Recovery().IndexesRebuilt
				// A reader that starts in the segment of the spanning
				// abort's marker, first: it must learn where it began.
				from := bases[spanSeg]
				var want []eventlog.AbortedTransaction
				for _, a := range aborted {
					if a.MarkerOffset >= from {
						want = append(want, a)
					}
				}
				assert.Equal(t, want, p.AbortedTransactions(from, end), "AbortedTransactions from the spanning abort's segment")
				assert.Equal(t, aborted, p.AbortedTransactions(0, end), "AbortedTransactions")
				assert.Equal(t, committed, shortValues(consume(t, l, eventlog.ReadCommitted, "t")), "a read_committed consumer")
				assert.Equal(t, committed, shortValues(replayValues(t, l, "t")), "Replay")
				assert.Equal(t, rebuilt+cut, l.Recovery().IndexesRebuilt, "each file mended once, and counted as an index rebuilt")
				require.NoError(t, l.Close())
				for _, path := range paths {
					got, err := os.ReadFile(path)
					if assert.NoError(t, err) {
						assert.Equal(t, contents[path], got, "%s mended", filepath.Base(path))
					}
				}

				// A reader that starts at the beginning first.
				for path := range contents {
					require.NoError(t, os.Truncate(path, 0))
				}
				l = openLog(t, dir, nil)
				assert.Equal(t, committed, shortValues(consume(t, l, eventlog.ReadCommitted, "t")), "a read_committed consumer, first")
				assert.Equal(t, aborted, partition(t, l, "t", 0).AbortedTransactions(0, end))
			})
		}
	}
}

// TestTxnIndexCutShortCompaction: the cleaner, which drops the records of
// aborted transactions and keeps the newest committed record of each key,
// does not take the aborted records of a .txnindex cut short for committed
// ones: a newer aborted value would win over the committed one, which the
// cleaning would then remove for good.
func TestTxnIndexCutShortCompaction(t *testing.T) {
	dir := t.TempDir()
	l, p := openCompactTopic(t, dir)
	prod := txnProducer(t, l, "tx")
	writeTxn(t, prod, true, "committed", "a")
	writeTxn(t, prod, false, "aborted", "a")
	putFillers(t, p, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	require.NoError(t, prod.Close())
	require.NoError(t, l.Close())

	partDir := filepath.Join(dir, "topics", "t", "0")
	paths, _ := closedTxnIndexes(t, partDir)
	require.Equal(t, 1, cutTxnIndexes(t, paths, func(int64) int64 { return 0 }), "the abort's .txnindex")

	l = openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.Compact(ctx, "t"))
	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, "committed", string(latest["a"]), "the aborted newer value does not win")
	assert.NotContains(t, valueStrings(readAll(t, partition(t, l, "t", 0), 0)), "aborted", "aborted records are cleaned away")
}

// TestTxnIndexCutShortConcurrentReaders: read_committed readers that start
// together on a partition whose .txnindex files were cut short all skip
// the aborted records, and the files are checked and mended once.
func TestTxnIndexCutShortConcurrentReaders(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	committed, _ := spanningAbortTopic(t, l)
	p := partition(t, l, "t", 0)
	end := p.LogEndOffset()
	aborted := p.AbortedTransactions(0, end)
	require.NoError(t, l.Close())
	paths, _ := closedTxnIndexes(t, filepath.Join(dir, "topics", "t", "0"))
	cut := cutTxnIndexes(t, paths, func(int64) int64 { return 0 })
	require.Positive(t, cut)

	l = openLog(t, dir, nil)
	p = partition(t, l, "t", 0)
	rebuilt := l.Recovery().IndexesRebuilt
	const readers = 4
	values := make([][]string, readers)
	lists := make([][]eventlog.AbortedTransaction, readers)
	done := make(chan struct{})
	for i := range readers {
		go func() {
			defer func() { done <- struct{}{} }()
			if i%2 == 0 {
				lists[i] = p.AbortedTransactions(0, end)
				return
			}
			c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1})
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			if !assert.NoError(t, c.Assign(eventlog.TopicPartition{Topic: "t"})) || !assert.NoError(t, c.SeekToBeginning()) {
				return
			}
			for r, err := range c.ReadToEnd(ctx) {
				if !assert.NoError(t, err) {
					return
				}
				values[i] = append(values[i], string(r.Value))
			}
			sort.Strings(values[i])
		}()
	}
	for range readers {
		<-done
	}
	for i := range readers {
		if i%2 == 0 {
			assert.Equal(t, aborted, lists[i], "AbortedTransactions of reader %d", i)
		} else {
			assert.Equal(t, committed, shortValues(values[i]), "records of reader %d", i)
		}
	}
	assert.Equal(t, rebuilt+cut, l.Recovery().IndexesRebuilt, "each file mended once")
}

// TestTxnIndexCutShortBeforeDamage: a damaged closed segment does not stop
// the check of the others: a read_committed reader skips the aborted
// records a cut .txnindex of an earlier segment no longer lists, and gets
// the *CorruptError of the damaged segment when it reaches it, not before.
func TestTxnIndexCutShortBeforeDamage(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	committed, _ := spanningAbortTopic(t, l)
	require.NoError(t, l.Close())
	partDir := filepath.Join(dir, "topics", "t", "0")
	paths, bases := closedTxnIndexes(t, partDir)
	require.NoError(t, os.Truncate(paths[0], 0))
	// The damaged segment's first batch gets an unknown magic byte.
	damaged := 2
	f, err := os.OpenFile(strings.TrimSuffix(paths[damaged], ".txnindex")+".log", os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{7}, 16)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	l = openLog(t, dir, nil)
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(eventlog.TopicPartition{Topic: "t"}))
	require.NoError(t, c.SeekToBeginning())
	var got []string
	var readErr error
	for r, err := range c.ReadToEnd(ctx) {
		if err != nil {
			readErr = err
			break
		}
		require.Less(t, r.Offset, bases[damaged])
		got = append(got, string(r.Value))
	}
	var ce *eventlog.CorruptError
	require.ErrorAs(t, readErr, &ce, "the damaged segment is reported when reached")
	var want []string
	for _, v := range committed {
		// Transaction i of abortedTxnTopic has its record at offset 2i.
		var i int64
		if _, err := fmt.Sscanf(v, "v%d", &i); err == nil && 2*i < bases[damaged] {
			want = append(want, v)
		}
	}
	sort.Strings(got)
	assert.Equal(t, want, got)
}

// TestTxnIndexCutShortRewriteFails: when the mended .txnindex cannot be
// written, the reads are right all the same, and the next process checks
// and mends the file again.
func TestTxnIndexCutShortRewriteFails(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l := openLog(t, faultDir, opts)
	committed := abortedTxnTopic(t, l)
	require.NoError(t, l.Close())
	partDir := faultDir + "/topics/t/0"
	names, err := fsys.ReadDir(partDir)
	require.NoError(t, err)
	var first string // the first closed segment's .txnindex, which lists aborts
	for _, name := range names {
		if strings.HasSuffix(name, ".txnindex") {
			first = partDir + "/" + name
			break
		}
	}
	require.NotEmpty(t, first)
	info, err := fsys.Stat(first)
	require.NoError(t, err)
	require.Positive(t, info.Size())
	f, err := fsys.OpenFile(first, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpRename && strings.HasSuffix(name, ".txnindex.tmp") {
			return eventlog.ErrInjected
		}
		return nil
	})
	l = openLog(t, faultDir, opts)
	rebuilt := l.Recovery().IndexesRebuilt
	assert.Equal(t, committed, consume(t, l, eventlog.ReadCommitted, "t"), "mended in memory")
	assert.Equal(t, rebuilt+1, l.Recovery().IndexesRebuilt)
	require.NoError(t, l.Close())
	info, err = fsys.Stat(first)
	require.NoError(t, err)
	assert.Zero(t, info.Size(), "not rewritten")

	fsys.SetFault(nil)
	l = openLog(t, faultDir, opts)
	rebuilt = l.Recovery().IndexesRebuilt
	assert.Equal(t, committed, consume(t, l, eventlog.ReadCommitted, "t"))
	assert.Equal(t, rebuilt+1, l.Recovery().IndexesRebuilt, "checked and mended again")
	require.NoError(t, l.Close())
	info, err = fsys.Stat(first)
	require.NoError(t, err)
	assert.Positive(t, info.Size(), "rewritten")
}

// TestTxnIndexCheckSoundLog: the check finds nothing to mend in a sound
// log — interleaved transactions of two producers, some spanning
// segments, a cleaning that merged segments and dropped aborted records —
// and rewrites no file.
func TestTxnIndexCheckSoundLog(t *testing.T) {
	dir := t.TempDir()
	opts := &eventlog.Options{SegmentBytes: 1024}
	l, p := openCompactTopic(t, dir)
	a, b := txnProducer(t, l, "a"), txnProducer(t, l, "b")
	for i := range 12 {
		require.NoError(t, a.BeginTransaction())
		require.NoError(t, b.BeginTransaction())
		sendKeyed(t, a, fmt.Sprint("a", i%4), fmt.Sprintf("a%02d", i))
		sendKeyed(t, b, fmt.Sprint("b", i%4), fmt.Sprintf("b%02d", i)+strings.Repeat("x", 200))
		for j := range 3 {
			putKV(t, p, fmt.Sprint("filler", j), []byte(strings.Repeat("f", 100)))
		}
		sendKeyed(t, a, fmt.Sprint("a", i%4), fmt.Sprintf("a%02d-2", i))
		if i%3 == 0 {
			require.NoError(t, a.AbortTransaction(ctx))
		} else {
			require.NoError(t, a.CommitTransaction(ctx))
		}
		if i%2 == 0 {
			require.NoError(t, b.AbortTransaction(ctx))
		} else {
			require.NoError(t, b.CommitTransaction(ctx))
		}
	}
	require.NoError(t, l.Compact(ctx, "t"))
	end := p.LogEndOffset()
	aborted := p.AbortedTransactions(0, end)
	values := shortValues(consume(t, l, eventlog.ReadCommitted, "t"))
	require.NoError(t, l.Close())

	partDir := filepath.Join(dir, "topics", "t", "0")
	contents := map[string][]byte{}
	for _, path := range globPartitionOf(t, partDir, ".txnindex") {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		contents[path] = b
	}
	l = openLog(t, dir, opts)
	rebuilt := l.Recovery().IndexesRebuilt
	p = partition(t, l, "t", 0)
	require.Positive(t, eventlog.TxnIndexCheckedFrom(p), "Open loaded closed segments' aborts from their files")
	assert.Equal(t, values, shortValues(consume(t, l, eventlog.ReadCommitted, "t")))
	assert.LessOrEqual(t, eventlog.TxnIndexCheckedFrom(p), p.LogStartOffset(), "the consumer had them checked")
	// The cleaning dropped the records of aborted transactions: the
	// merged segments' aborts are gone from the files with them.
	for _, got := range p.AbortedTransactions(0, end) {
		assert.Contains(t, aborted, got)
	}
	require.NoError(t, l.Compact(ctx, "t"))
	assert.Equal(t, rebuilt, l.Recovery().IndexesRebuilt, "nothing mended")
	require.NoError(t, l.Close())
	for path, want := range contents {
		got, err := os.ReadFile(path)
		if err == nil { // a cleaning may merge a segment away
			assert.Equal(t, want, got, "%s rewritten", filepath.Base(path))
		}
	}
	assert.Empty(t, verify(t, dir).Problems)
}
