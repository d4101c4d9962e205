package eventlog_test

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Benchmarks of consumer groups; BENCHMARKS.md quotes medians of -count 5:
//
//	go test -run '^$' -bench 'Group|Commit|OpenWithCommitted' -count 5
//
// The commit benchmarks measure, in the same run, the single-writer
// fsync append rate they are compared against.

// BenchmarkGroupRebalanceJoin measures a rebalance when a ninth member
// joins a group of 8 members polling 64 partitions: from the join to every
// member having applied the new generation and gone back to waiting in
// Poll, with the joiner owning its share. Automatic commits are off, so
// that the protocol is measured, not fsyncs. The joiner then leaves, out of
// the timing. It reports the median in ns/rebalance-p50.
func BenchmarkGroupRebalanceJoin(b *testing.B) {
	for _, assignor := range []eventlog.Assignor{eventlog.RangeAssignor{}, eventlog.CooperativeStickyAssignor{}} {
		b.Run(assignor.Name(), func(b *testing.B) { benchRebalanceJoin(b, assignor) })
	}
}

// watcher is a RebalanceListener that publishes a member's generation and
// partition count after every change.
type watcher struct {
	generation atomic.Int32
	owned      atomic.Int32
	changed    chan<- struct{}
}

func (w *watcher) update(c *eventlog.Consumer) {
	md, err := c.GroupMetadata()
	if err == nil {
		w.generation.Store(md.GenerationID)
	}
	w.owned.Store(int32(len(c.Assignment())))
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *watcher) OnPartitionsRevoked(context.Context, *eventlog.Consumer, []eventlog.TopicPartition) {
}
func (w *watcher) OnPartitionsAssigned(_ context.Context, c *eventlog.Consumer, _ []eventlog.TopicPartition) {
	w.update(c)
}
func (w *watcher) OnPartitionsLost(context.Context, *eventlog.Consumer, []eventlog.TopicPartition) {}

func benchRebalanceJoin(b *testing.B, assignor eventlog.Assignor) {
	const members, partitions = 8, 64
	l, err := eventlog.Open(b.TempDir(), nil)
	require.NoError(b, err)
	defer l.Close()
	require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions}))
	changed := make(chan struct{}, 1)
	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	start := func(w *watcher) *eventlog.Consumer {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "bench", Assignor: assignor, DisableAutoCommit: true,
			FetchMaxWait: time.Hour, RebalanceListener: w})
		require.NoError(b, err)
		require.NoError(b, c.Subscribe("t"))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Poll(runCtx); err != nil {
					return
				}
			}
		}()
		return c
	}
	watchers := make([]*watcher, members+1)
	consumers := make([]*eventlog.Consumer, members)
	for i := range watchers {
		watchers[i] = &watcher{changed: changed}
	}
	for i := range consumers {
		consumers[i] = start(watchers[i])
	}
	// settledAt waits until n members agree on a generation above after
	// and own all partitions between them, and returns that generation.
	settledAt := func(n int, after int32) int32 {
		for {
			gen, total, agree := watchers[0].generation.Load(), int32(0), true
			for _, w := range watchers[:n] {
				agree = agree && w.generation.Load() == gen
				total += w.owned.Load()
			}
			if agree && gen > after && total == partitions && (n == members || watchers[members].owned.Load() > 0) {
				return gen
			}
			<-changed
		}
	}
	gen := settledAt(members, 0)
	var durations []time.Duration
	b.ResetTimer()
	for b.Loop() {
		watchers[members].generation.Store(-1)
		watchers[members].owned.Store(0)
		t0 := time.Now()
		joiner := start(watchers[members])
		gen = settledAt(members+1, gen)
		durations = append(durations, time.Since(t0))
		b.StopTimer()
		require.NoError(b, joiner.Close())
		gen = settledAt(members, gen)
		b.StartTimer()
	}
	b.StopTimer()
	cancel()
	for _, c := range consumers {
		_ = c.Close()
	}
	wg.Wait()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Nanoseconds()), "ns/rebalance-p50")
}

// BenchmarkCommitSync compares a synchronous commit of one partition, with
// fsync durability, to the single-writer fsync append rate: "members=1"
// alternates one append and one commit, so that both rates are measured
// under the same disk weather, and reports commit/append, their ratio. With
// 8 members committing at once, commits share fsyncs: commits/fsync counts
// how many share one.
func BenchmarkCommitSync(b *testing.B) {
	recs := benchRecords(1)
	for _, members := range []int{1, 8} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			fsys := &syncCounter{FS: eventlog.OSFS{}}
			l, err := eventlog.Open(b.TempDir(), &eventlog.Options{FS: fsys})
			require.NoError(b, err)
			defer l.Close()
			require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{Partitions: members}))
			require.NoError(b, l.CreateTopic("baseline", eventlog.TopicConfig{}))
			baseline, err := l.Partition("baseline", 0)
			require.NoError(b, err)
			fill(b, l, "t", members, 1)
			cs := make([]*eventlog.Consumer, members)
			for i := range cs {
				cs[i], err = l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "bench", DisableAutoCommit: true, FetchMaxWait: -1})
				require.NoError(b, err)
				defer cs[i].Close()
				require.NoError(b, cs[i].Subscribe("t"))
			}
			for !settledQuiet(cs, members) {
				for _, c := range cs {
					_, err := c.Poll(ctx)
					require.NoError(b, err)
				}
			}
			if members == 1 {
				var appending, committing time.Duration
				for b.Loop() {
					t0 := time.Now()
					if _, err := baseline.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
						b.Fatal(err)
					}
					t1 := time.Now()
					if err := cs[0].CommitSync(ctx); err != nil {
						b.Fatal(err)
					}
					appending, committing = appending+t1.Sub(t0), committing+time.Since(t1)
				}
				appends, commits := float64(b.N)/appending.Seconds(), float64(b.N)/committing.Seconds()
				b.ReportMetric(appends, "appends/s")
				b.ReportMetric(commits, "commits/s")
				b.ReportMetric(commits/appends, "commit/append")
				return
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			syncs := fsys.syncs.Load()
			b.ResetTimer()
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := c.CommitSync(ctx); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(b.N)/float64(max(fsys.syncs.Load()-syncs, 1)), "commits/fsync")
		})
	}
}

// settledQuiet reports whether the consumers own want partitions between
// them, each at least one.
func settledQuiet(cs []*eventlog.Consumer, want int) bool {
	n := 0
	for _, c := range cs {
		if len(c.Assignment()) == 0 {
			return false
		}
		n += len(c.Assignment())
	}
	return n == want
}

// syncCounter counts file fsyncs.
type syncCounter struct {
	eventlog.FS
	syncs atomic.Int64
}

func (s *syncCounter) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countedFile{File: f, syncs: &s.syncs}, nil
}

type countedFile struct {
	eventlog.File
	syncs *atomic.Int64
}

func (f *countedFile) Sync() error {
	f.syncs.Add(1)
	return f.File.Sync()
}

// Mmap keeps reads on memory mappings, as with the unwrapped file.
func (f *countedFile) Mmap(size int) ([]byte, func() error, error) {
	return f.File.(interface {
		Mmap(int) ([]byte, func() error, error)
	}).Mmap(size)
}

// BenchmarkOpenWithCommittedOffsets opens a log whose __consumer_offsets
// holds 100,000 committed offsets (10,000 groups of 10 partitions), against
// the same log without them.
func BenchmarkOpenWithCommittedOffsets(b *testing.B) {
	const groups, partitions = 10_000, 10
	build := func(b *testing.B, commits bool) string {
		dir := b.TempDir()
		l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
		require.NoError(b, err)
		require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions}))
		fill(b, l, "t", partitions, 1000)
		if commits {
			offsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{}
			for id := range int32(partitions) {
				offsets[eventlog.TopicPartition{Topic: "t", Partition: id}] = eventlog.OffsetAndMetadata{Offset: 500, Metadata: "m"}
			}
			for g := range groups {
				c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: fmt.Sprintf("group-%05d", g)})
				require.NoError(b, err)
				require.NoError(b, c.CommitOffsets(ctx, offsets))
				require.NoError(b, c.Close())
			}
		}
		require.NoError(b, l.Close())
		return dir
	}
	for _, commits := range []bool{false, true} {
		name := "baseline-no-offsets"
		if commits {
			name = "100k-offsets"
		}
		b.Run(name, func(b *testing.B) {
			dir := build(b, commits)
			for b.Loop() {
				l, err := eventlog.Open(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if commits {
					offsets, err := l.GroupOffsets("group-09999")
					require.NoError(b, err)
					require.Len(b, offsets, partitions)
				}
				require.NoError(b, l.Close())
				b.StartTimer()
			}
		})
	}
}
