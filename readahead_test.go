package eventlog_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Long view scans have their batches' CRCs checked ahead of them on
// another core (readahead.go). These tests scan segments of about 12 MiB,
// many times the verifier's window, so that it starts, waits for the
// reader and goes on. A scan starts its verifier once it has read 256 KiB;
// inside a synctest bubble, the scan then pauses at pauseAt, the first
// record of the fifth batch, and synctest.Wait lets the verifier run as far
// ahead as it will before the scan goes on.

const (
	readAheadBatches      = 120
	readAheadBatchRecords = 100
	pauseAt               = 4 * readAheadBatchRecords
	// windowBatches is how many of these batches, of about 100 KB, the
	// verifier's window holds.
	windowBatches = eventlog.ReadAheadWindow / (readAheadBatchRecords * 1000)
)

// withTwoCores makes sure the Log has a core to spare for a verifier.
func withTwoCores(t *testing.T) {
	if n := runtime.GOMAXPROCS(0); n < 2 {
		runtime.GOMAXPROCS(2)
		t.Cleanup(func() { runtime.GOMAXPROCS(n) })
	}
}

// readAheadValue is the value of the record at offset: about 1 KiB that
// starts with the offset.
func readAheadValue(offset int64) []byte {
	v := make([]byte, 1000)
	copy(v, fmt.Sprintf("%d;", offset))
	return v
}

// fillForReadAhead writes readAheadBatches batches of readAheadBatchRecords
// records to partition 0 of topic "t", creating the topic on first use.
func fillForReadAhead(t *testing.T, l *eventlog.Log) *eventlog.Partition {
	t.Helper()
	if _, err := l.Partition("t", 0); err != nil {
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	}
	p := partition(t, l, "t", 0)
	for range readAheadBatches {
		records := make([]eventlog.Record, readAheadBatchRecords)
		for j := range records {
			records[j] = eventlog.Record{Key: []byte("k"), Value: readAheadValue(p.LogEndOffset() + int64(j))}
		}
		_, err := p.Append(ctx, records, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	return p
}

// batchStarts returns where each batch of a segment file starts.
func batchStarts(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var starts []int64
	for pos := int64(0); pos < int64(len(data)); pos += 12 + int64(binary.BigEndian.Uint32(data[pos+8:])) {
		starts = append(starts, pos)
	}
	return starts
}

// scanChecked reads p through views from 0, pausing at pauseAt until
// every goroutine of the bubble waits, and checks each record. It
// returns how many records it saw and the error that ended the scan.
func scanChecked(t *testing.T, p *eventlog.Partition) (int64, error) {
	next := int64(0)
	for v, err := range p.Views(0) {
		if err != nil {
			return next, err
		}
		if next == pauseAt {
			synctest.Wait()
		}
		require.Equal(t, next, v.Offset)
		require.Equal(t, readAheadValue(next), v.Value)
		next++
	}
	return next, nil
}

func TestViewsReadAhead(t *testing.T) {
	withTwoCores(t)
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		p := fillForReadAhead(t, l)

		n, err := scanChecked(t, p)
		require.NoError(t, err)
		assert.Equal(t, int64(readAheadBatches*readAheadBatchRecords), n)
		// At least the window's worth of batches, checked while the
		// reader waited, were left to the verifier.
		skipped := eventlog.ReadAheadBatches(l)
		assert.GreaterOrEqual(t, skipped, int64(windowBatches))

		// A consumer reads in chunks of MaxPollRecords; its verifier
		// keeps its place from one chunk to the next.
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, eventlog.TopicPartition{Topic: "t", Partition: 0})
		next := int64(0)
		for v, err := range c.ViewsToEnd(ctx) {
			require.NoError(t, err)
			if next == pauseAt {
				synctest.Wait()
			}
			require.Equal(t, next, v.Offset)
			require.Equal(t, readAheadValue(next), v.Value)
			next++
		}
		assert.Equal(t, int64(readAheadBatches*readAheadBatchRecords), next)
		assert.GreaterOrEqual(t, eventlog.ReadAheadBatches(l)-skipped, int64(windowBatches))
	})
}

// TestViewsReadAheadReportsDamage damages one batch of a closed log's
// segment, where Open does not look: before the verifier starts, where it
// starts, inside its window while the scan pauses, and past the window;
// and, with one core, where the scan checks and tables each batch itself:
// the scan yields every record before the damaged batch, then reports it.
func TestViewsReadAheadReportsDamage(t *testing.T) {
	for _, tc := range []struct{ cores, bad int }{{2, 0}, {2, 3}, {2, 6}, {2, 40}, {2, 110}, {1, 3}, {1, 40}, {1, 110}} {
		cores, bad := tc.cores, tc.bad
		t.Run(fmt.Sprintf("cores=%d/batch=%d", cores, bad), func(t *testing.T) {
			n := runtime.GOMAXPROCS(cores)
			t.Cleanup(func() { runtime.GOMAXPROCS(n) })
			dir := t.TempDir()
			l := openLog(t, dir, nil)
			fillForReadAhead(t, l)
			require.NoError(t, l.Close())
			segs, err := filepath.Glob(filepath.Join(dir, "topics", "t", "0", "*.log"))
			require.NoError(t, err)
			require.Len(t, segs, 1)
			starts := batchStarts(t, segs[0])
			require.Len(t, starts, readAheadBatches)
			f, err := os.OpenFile(segs[0], os.O_RDWR, 0)
			require.NoError(t, err)
			_, err = f.WriteAt([]byte{0xFF}, starts[bad]+200) // in the records, under the CRC
			require.NoError(t, err)
			require.NoError(t, f.Close())

			synctest.Test(t, func(t *testing.T) {
				l := openLog(t, dir, nil)
				n, err := scanChecked(t, partition(t, l, "t", 0))
				assert.Equal(t, int64(bad*readAheadBatchRecords), n)
				var ce *eventlog.CorruptError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, segs[0], ce.Path)
				assert.Equal(t, starts[bad], ce.Pos)
			})
		})
	}
}

// TestViewsReadAheadAndClose closes the Log while a scan waits in its loop
// body and its verifier waits for it: Close returns, the verifier is gone,
// and the scan ends with ErrClosed at its next batch.
func TestViewsReadAheadAndClose(t *testing.T) {
	withTwoCores(t)
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		p := fillForReadAhead(t, l)
		var err error
		seen := 0
		for _, err = range p.Views(0) {
			if err != nil {
				break
			}
			if seen == pauseAt {
				synctest.Wait()
				require.NoError(t, l.Close())
			}
			seen++
		}
		require.ErrorIs(t, err, eventlog.ErrClosed)
		assert.Equal(t, pauseAt+readAheadBatchRecords, seen, "the batch being read stays readable")
	})
}

// TestReadAheadDuringRetentionAndCompaction scans segments long enough for
// verifiers, from several goroutines, while retention deletes segments and
// compaction swaps them: no scan faults or sees a wrong byte, and once
// the scans end and the Log is closed every file is closed.
func TestReadAheadDuringRetentionAndCompaction(t *testing.T) {
	withTwoCores(t)
	for _, policy := range []eventlog.CleanupPolicy{eventlog.CleanupDelete, eventlog.CleanupCompact} {
		t.Run(policy.String(), func(t *testing.T) {
			before := openFileCount(t)
			clk := newClock()
			l, err := eventlog.Open(t.TempDir(), &eventlog.Options{Now: clk.Now, SegmentBytes: 3 << 20})
			require.NoError(t, err)
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{
				Durability: eventlog.DurabilityOS, Retention: time.Minute, CleanupPolicy: policy, MinCleanableDirtyRatio: 0.01,
			}))
			p := partition(t, l, "t", 0)
			scan := func() error {
				last := int64(-1)
				for v, err := range p.Views(p.LogStartOffset()) {
					if err != nil {
						return err
					}
					if v.Offset <= last || !bytes.Equal(v.Value, readAheadValue(v.Offset)) {
						return fmt.Errorf("offset %d after %d has the wrong value", v.Offset, last)
					}
					last = v.Offset
				}
				return nil
			}
			var scanners sync.WaitGroup
			stop := make(chan struct{})
			failures := make(chan error, 3)
			for range 3 {
				scanners.Add(1)
				go func() {
					defer scanners.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := scan(); err != nil && !errors.Is(err, eventlog.ErrOffsetOutOfRange) {
							failures <- err
							return
						}
					}
				}()
			}
			for i := range 300 {
				records := make([]eventlog.Record, 50)
				for j := range records {
					records[j] = eventlog.Record{Key: fmt.Appendf(nil, "k%d", (i*50+j)%5000), Value: readAheadValue(p.LogEndOffset() + int64(j))}
				}
				_, err := p.Append(ctx, records, eventlog.AppendOptions{})
				require.NoError(t, err)
				clk.Advance(time.Second)
				if i%30 == 29 {
					if policy == eventlog.CleanupCompact {
						require.NoError(t, l.Compact(ctx, "t"))
					} else {
						require.NoError(t, eventlog.EnforceRetention(l))
					}
				}
			}
			close(stop)
			scanners.Wait()
			close(failures)
			for err := range failures {
				t.Error(err)
			}
			if policy == eventlog.CleanupDelete {
				assert.Positive(t, p.LogStartOffset(), "retention ran")
			}
			require.NoError(t, l.Close())
			if before >= 0 {
				assert.Equal(t, before, openFileCount(t), "every file is closed")
			}
		})
	}
}

// TestConsumerViewsReadAheadEndsWhileWaiting: a consumer's verifier keeps
// its place from one chunk to the next, but not while the consumer waits
// for records: a partition paused from the loop body, and whose topic is
// then deleted, has its files removed while the loop waits on the other
// partitions.
// TestConsumerReadAheadFollowsAGrowingSegment reads on with a consumer
// while the active segment grows between two of its chunks: a verifier,
// which stops at the end of the bytes it was given, checks the new bytes
// ahead of the reader too.
func TestConsumerReadAheadFollowsAGrowingSegment(t *testing.T) {
	withTwoCores(t)
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, t.TempDir(), nil)
		fillForReadAhead(t, l)
		// Chunks of one batch each, so that the second part starts a chunk.
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, MaxPollRecords: readAheadBatchRecords}, eventlog.TopicPartition{Topic: "t"})
		first := int64(readAheadBatches * readAheadBatchRecords)
		next := int64(0)
		for v, err := range c.Views(ctx) {
			require.NoError(t, err)
			require.Equal(t, next, v.Offset)
			require.Equal(t, readAheadValue(next), v.Value)
			next++
			switch next {
			case first:
				synctest.Wait() // the verifier reaches the end of what it was given
				assert.Zero(t, eventlog.RunningVerifiers(l))
				fillForReadAhead(t, l)
			case first + pauseAt:
				synctest.Wait() // a verifier runs ahead until it waits for the reader
				assert.Equal(t, int32(1), eventlog.RunningVerifiers(l), "a verifier checks the new bytes")
			}
			if next == 2*first {
				break
			}
		}
		assert.Equal(t, 2*first, next)
	})
}

func TestConsumerViewsReadAheadEndsWhileWaiting(t *testing.T) {
	withTwoCores(t)
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		l := openLog(t, dir, nil)
		fillForReadAhead(t, l)
		require.NoError(t, l.CreateTopic("idle", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
		read, idle := eventlog.TopicPartition{Topic: "t"}, eventlog.TopicPartition{Topic: "idle"}
		c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest, FetchMaxWait: time.Hour}, read, idle)
		paused := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			seen := 0
			for v, err := range c.Views(ctx) {
				if err != nil || v.Topic == idle.Topic {
					done <- err
					return
				}
				switch seen++; seen {
				case pauseAt:
					synctest.Wait() // the verifier runs ahead until it waits for the reader
				case pauseAt + 6*readAheadBatchRecords: // past batches the verifier tabled
					assert.NoError(t, c.Pause(read))
					close(paused)
				}
			}
		}()
		<-paused
		synctest.Wait() // the loop waits for records of idle
		require.NoError(t, l.DeleteTopic(ctx, "t"))
		synctest.Wait()
		topics, err := os.ReadDir(filepath.Join(dir, "topics"))
		require.NoError(t, err)
		var names []string
		for _, e := range topics {
			names = append(names, e.Name())
		}
		assert.Equal(t, []string{"idle"}, names, "the deleted topic's files are removed while the consumer waits")

		_, err = partition(t, l, "idle", 0).Append(ctx, []eventlog.Record{{Value: []byte("x")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
		require.NoError(t, <-done)
		synctest.Wait() // the loop has ended
		assert.Positive(t, eventlog.ReadAheadBatches(l), "a verifier ran")
	})
}
