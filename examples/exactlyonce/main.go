// Command exactlyonce runs a consume-transform-produce worker with
// exactly-once output. It reads payments from the "payments" topic, writes
// a verdict for each to "verdicts", and moves its consumer group's
// committed offset in the same transaction as the verdicts
// (SendOffsetsToTransaction): the output and the input position are
// stored together or not at all.
//
// The first worker dies halfway through a transaction. A second worker
// with the same transactional ID starts: that fences the first, aborts its
// open transaction, and resumes from the committed offset. A read_committed
// consumer of "verdicts" then sees one verdict per payment; a
// read_uncommitted one also sees what the aborted transaction wrote.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"

	"github.com/eventlog/eventlog"
)

const (
	group    = "fraud-check"
	workerID = "fraud-check-worker"
	payments = 10
)

var input = eventlog.TopicPartition{Topic: "payments", Partition: 0}

// worker is one incarnation of the consume-transform-produce loop.
type worker struct {
	consumer *eventlog.Consumer
	producer *eventlog.Producer
}

func newWorker(l *eventlog.Log) (*worker, error) {
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{
		GroupID: group, DisableAutoCommit: true, AutoOffsetReset: eventlog.OffsetResetEarliest,
		MaxPollRecords: 3, FetchMaxWait: -1,
	})
	if err != nil {
		return nil, err
	}
	if err := c.Assign(input); err != nil {
		return nil, err
	}
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: workerID})
	if err != nil {
		return nil, err
	}
	return &worker{consumer: c, producer: p}, nil
}

// step processes one poll of payments in one transaction. With commit
// false it dies instead of committing, leaving the transaction open.
func (w *worker) step(ctx context.Context, commit bool) (int, error) {
	recs, err := w.consumer.Poll(ctx)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	if err := w.producer.BeginTransaction(); err != nil {
		return 0, err
	}
	for _, r := range recs {
		amount, err := strconv.Atoi(string(r.Value))
		if err != nil {
			return 0, err
		}
		verdict := "ok"
		if amount > 500 {
			verdict = "review"
		}
		out := eventlog.Record{Topic: "verdicts", Key: r.Key, Value: fmt.Appendf(nil, "%s %s", r.Key, verdict)}
		if _, err := w.producer.Send(ctx, out); err != nil {
			return 0, err
		}
	}
	next := recs[len(recs)-1].Offset + 1
	md, err := w.consumer.GroupMetadata()
	if err != nil {
		return 0, err
	}
	if err := w.producer.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{input: {Offset: next}}, md); err != nil {
		return 0, err
	}
	if !commit {
		return len(recs), nil // the process dies here
	}
	return len(recs), w.producer.CommitTransaction(ctx)
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

// run is the example; main reports its error once the deferred clean-up,
// the removal of the temporary directory, has run.
func run() error {
	dir, err := os.MkdirTemp("", "eventlog-exactlyonce-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	l, err := eventlog.Open(dir, nil)
	if err != nil {
		return err
	}
	defer l.Close()
	for _, topic := range []string{"payments", "verdicts"} {
		if err := l.CreateTopic(topic, eventlog.TopicConfig{}); err != nil {
			return err
		}
	}
	in, err := l.Partition("payments", 0)
	if err != nil {
		return err
	}
	for i := range payments {
		amount := strconv.Itoa(100 + 97*i)
		if _, err := in.Append(ctx, []eventlog.Record{{Key: fmt.Appendf(nil, "payment-%d", i), Value: []byte(amount)}}, eventlog.AppendOptions{}); err != nil {
			return err
		}
	}

	first, err := newWorker(l)
	if err != nil {
		return err
	}
	for _, commit := range []bool{true, true, false} {
		n, err := first.step(ctx, commit)
		if err != nil {
			return err
		}
		fmt.Printf("worker 1: %d payments, committed: %v\n", n, commit)
	}

	// A new incarnation: it fences the first and aborts its transaction.
	second, err := newWorker(l)
	if err != nil {
		return err
	}
	if err := first.producer.CommitTransaction(ctx); err != nil {
		fmt.Println("worker 1, late commit:", err)
	}
	for {
		n, err := second.step(ctx, true)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		fmt.Printf("worker 2: %d payments, committed\n", n)
	}
	offsets, err := l.GroupOffsets(group)
	if err != nil {
		return err
	}
	fmt.Printf("committed offset of %s: %d\n", input, offsets[0].Committed)

	for _, level := range []eventlog.IsolationLevel{eventlog.ReadCommitted, eventlog.ReadUncommitted} {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{IsolationLevel: level, AutoOffsetReset: eventlog.OffsetResetEarliest})
		if err != nil {
			return err
		}
		if err := c.Assign(eventlog.TopicPartition{Topic: "verdicts", Partition: 0}); err != nil {
			return err
		}
		seen := map[string]int{}
		total := 0
		for r, err := range c.ReadToEnd(ctx) {
			if err != nil {
				return err
			}
			seen[string(r.Key)]++
			total++
		}
		c.Close()
		fmt.Printf("%s: %d verdicts for %d payments\n", level, total, len(seen))
		if level == eventlog.ReadCommitted && (total != payments || len(seen) != payments) {
			return fmt.Errorf("exactly once broken: %d verdicts for %d payments", total, len(seen))
		}
	}
	for _, w := range []*worker{first, second} {
		w.consumer.Close()
		w.producer.Close()
	}
	return nil
}
