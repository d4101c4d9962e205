package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) tailCommand() *cobra.Command {
	var (
		rf       recordFlags
		last     int64
		follow   bool
		interval time.Duration
	)
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Print the last records of a topic, and with -f the records appended after",
		Long: `Print the last records of each partition of a topic; with -f, go on printing
the records other processes append, until interrupted (Ctrl-C, exit code 0).
The last N are records, not offsets: an offset that holds none (a
transaction's marker, a record compaction removed) does not count.
As dump does, it prints every record the log holds, those of aborted
transactions and of transactions still open included (read_uncommitted).

The log is opened read-only and looked at again every --interval: what a
writer appended shows within that time. A batch being written shows once
it is whole. Partitions added to the topic meanwhile are followed too,
from their first record, unless --partition picks one.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, names []string) (err error) {
			if interval < minInterval {
				return usageError("--interval %v is below %v", interval, minInterval)
			}
			if last < 0 {
				return usageError("--lines %d is negative", last)
			}
			printer, err := rf.printer(a.stdout, a.json)
			if err != nil {
				return err
			}
			l, parts, err := rf.openPartitions(a, names[0])
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			starts := make(map[eventlog.TopicPartition]int64, len(parts))
			for _, p := range parts {
				start, err := tailStart(cmd.Context(), l, p, last)
				if err != nil {
					return err
				}
				starts[eventlog.TopicPartition{Topic: p.Topic(), Partition: p.ID()}] = start
			}
			if !follow {
				d := dumper{log: l, ctx: cmd.Context(), printer: printer, out: a.stdout, max: last}
				for _, p := range parts {
					if err := d.records(p, starts[eventlog.TopicPartition{Topic: p.Topic(), Partition: p.ID()}]); err != nil {
						return err
					}
				}
				return nil
			}
			// Following every partition follows those added later too.
			grows := ""
			if rf.partition < 0 {
				grows = names[0]
			}
			return a.follow(cmd.Context(), l, starts, grows, printer, interval)
		}),
	}
	f := cmd.Flags()
	rf.register(f)
	f.Int64VarP(&last, "lines", "n", 10, "print the last N records of each partition first")
	f.BoolVarP(&follow, "follow", "f", false, "go on printing records as they are appended")
	f.DurationVar(&interval, "interval", 250*time.Millisecond, fmt.Sprintf("with -f, how often to look for new records (at least %v)", minInterval))
	return cmd
}

// tailStart returns the offset of the first of the last n records of p,
// a partition of the read-only Log l, below its high watermark, or the log
// start if p holds fewer. A segment file that the writer deleted since l
// listed it makes it refresh l and count again, once (see retryGone).
func tailStart(ctx context.Context, l *eventlog.Log, p *eventlog.Partition, n int64) (start int64, err error) {
	err = againIfGone(l, func() error {
		start, err = lastRecordsStart(ctx, p, n)
		return err
	})
	return start, err
}

// lastRecordsStart is tailStart without the retry. Offsets need not hold a
// record — a transaction's marker takes one, and compaction leaves gaps —
// so it counts records, not offsets: in the last n offsets first, and then
// in twice as many each time, until it has n records or reaches the log
// start.
func lastRecordsStart(ctx context.Context, p *eventlog.Partition, n int64) (int64, error) {
	hw, span := p.HighWatermark(), p.HighWatermark()-p.LogStartOffset()
	if n == 0 || span <= 0 {
		return hw, nil
	}
	for window := min(n, span); ; {
		from := hw - window
		count, err := countRecords(ctx, p, from, hw)
		if err != nil {
			return 0, err
		}
		switch {
		case count > n:
			return recordAfter(ctx, p, from, count-n)
		case count == n || window == span:
			return from, nil
		case window > span/2:
			window = span
		default:
			window *= 2
		}
	}
}

// countRecords counts the records of p in [from, to).
func countRecords(ctx context.Context, p *eventlog.Partition, from, to int64) (int64, error) {
	var count int64
	for v, err := range p.Views(from) {
		if err != nil {
			return 0, err
		}
		if v.Offset >= to {
			break
		}
		if count++; count%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
	return count, nil
}

// recordAfter returns the offset of the record of p that follows the
// first skip records from offset from.
func recordAfter(ctx context.Context, p *eventlog.Partition, from, skip int64) (int64, error) {
	var seen int64
	for v, err := range p.Views(from) {
		if err != nil {
			return 0, err
		}
		if seen == skip {
			return v.Offset, nil
		}
		if seen++; seen%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
	}
	return p.HighWatermark(), nil
}

// minInterval is the shortest --interval: each look lists the partitions'
// directories, and more often would keep a core busy for nothing a person
// could see.
const minInterval = 10 * time.Millisecond

// follow prints the records of the partitions from the given offsets on,
// refreshing the read-only log every interval, until ctx ends. Unless
// topic is "", it follows the partitions added to topic meanwhile too,
// from their log start: each of their records was appended after
// follow began.
func (a *app) follow(ctx context.Context, l *eventlog.Log, starts map[eventlog.TopicPartition]int64, topic string,
	printer *recordPrinter, interval time.Duration) error {
	// Read uncommitted, as dump and tail without -f read: every record
	// the log holds, those of aborted transactions and of transactions
	// still open included. A position that the writer's retention or
	// DeleteRecords left below the log start goes on from the log start,
	// the first record still there, not from the end.
	cons, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: time.Hour, IsolationLevel: eventlog.ReadUncommitted,
		AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return err
	}
	defer cons.Close()
	tps := make([]eventlog.TopicPartition, 0, len(starts))
	for tp := range starts {
		tps = append(tps, tp)
	}
	if err := cons.Assign(tps...); err != nil {
		return err
	}
	// added reports whether topic has more partitions than are followed;
	// the refreshing goroutine asks it, to wake a Poll that waits on
	// the others, and so does the loop, to assign them.
	followed := atomic.Int64{}
	followed.Store(int64(len(tps)))
	added := func() int {
		if topic == "" {
			return 0
		}
		cfg, err := l.TopicConfig(topic)
		if err != nil || int64(cfg.Partitions) <= followed.Load() {
			return 0 // a topic deleted fails the poll
		}
		return cfg.Partitions
	}
	for tp, offset := range starts {
		if err := cons.Seek(tp, offset); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	refreshed := make(chan struct{})
	go func() {
		defer close(refreshed)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := l.Refresh(); err != nil {
					cancel(err)
					return
				}
				if added() > 0 {
					cons.Wakeup()
				}
			}
		}
	}()
	defer func() { cancel(nil); <-refreshed }()
	var (
		rec     outRecord
		retried bool
	)
	for {
		if n := added(); n > 0 {
			tps = tps[:0]
			for id := range int32(n) {
				tps = append(tps, eventlog.TopicPartition{Topic: topic, Partition: id})
			}
			// The partitions followed keep their positions; the new
			// ones start at their log start (AutoOffsetReset).
			if err := cons.Assign(tps...); err != nil {
				return err
			}
			followed.Store(int64(n))
		}
		recs, err := cons.Poll(ctx)
		if errors.Is(err, eventlog.ErrWakeup) {
			continue // partitions were added
		}
		if err != nil {
			if cause := context.Cause(ctx); ctx.Err() != nil {
				if errors.Is(cause, context.Canceled) {
					return nil // interrupted: the normal way to stop following
				}
				return cause
			}
			// A segment file the writer deleted since the last refresh
			// (see retryGone): refresh, and poll again, once.
			if errors.Is(err, fs.ErrNotExist) && !retried {
				retried = true
				if rerr := l.Refresh(); rerr != nil {
					return errors.Join(err, rerr)
				}
				continue
			}
			return err
		}
		retried = false
		for i := range recs {
			rec = fromRecord(&recs[i])
			if err := printer.print(&rec); err != nil {
				return err
			}
		}
	}
}
