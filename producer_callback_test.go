package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A SendAsync function runs while the batches behind it wait, so a call
// from it that waits for appends would wait for itself. Each such call
// fails with ErrConcurrentUse instead, whether the function runs on one of
// the Log's goroutines (drained for a Flush) or on the goroutine of a Send
// that appends the batches ahead of its own; nothing is closed or lost, and
// the Producer goes on. Without the check, each case hangs.
func TestSendAsyncFunctionCannotWaitForItself(t *testing.T) {
	var other *eventlog.Producer // a second Producer of the subtest's Log
	calls := []struct {
		name string
		call func(l *eventlog.Log, p *eventlog.Producer) error
	}{
		{"Send", func(_ *eventlog.Log, p *eventlog.Producer) error {
			_, err := p.Send(ctx, eventlog.Record{Topic: "t", Value: []byte("refused")})
			return err
		}},
		{"Send", func(_ *eventlog.Log, p *eventlog.Producer) error { // to another partition
			_, err := p.Send(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("refused")})
			return err
		}},
		{"Send", func(l *eventlog.Log, _ *eventlog.Producer) error { // of another Producer
			_, err := other.Send(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: []byte("refused")})
			return err
		}},
		{"Send", func(_ *eventlog.Log, p *eventlog.Producer) error { // SendIf
			_, err := p.SendIf(ctx, eventlog.Record{Topic: "t", Value: []byte("refused")}, eventlog.IfEndOffset(1))
			return err
		}},
		{"Flush", func(_ *eventlog.Log, p *eventlog.Producer) error { return p.Flush(ctx) }},
		{"Close", func(_ *eventlog.Log, p *eventlog.Producer) error { return p.Close() }},
		{"Log.Close", func(l *eventlog.Log, _ *eventlog.Producer) error { return l.Close() }},
	}
	drains := []struct {
		name  string
		drain func(t *testing.T, p *eventlog.Producer)
	}{
		{"on a Log goroutine", func(t *testing.T, p *eventlog.Producer) { require.NoError(t, p.Flush(ctx)) }},
		{"on a Send's goroutine", func(t *testing.T, p *eventlog.Producer) {
			_, err := p.Send(ctx, eventlog.Record{Topic: "t", Value: []byte("second")})
			require.NoError(t, err)
		}},
	}
	for _, drain := range drains {
		for _, c := range calls {
			t.Run(drain.name+"/"+c.name, func(t *testing.T) {
				l := prodLog(t, t.TempDir(), nil, "t", eventlog.TopicConfig{Partitions: 2})
				p := prodNew(t, l, &eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
				other = prodNew(t, l, &eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
				var callErr error
				called := 0
				p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: []byte("first")}, func(_ eventlog.RecordMetadata, err error) {
					require.NoError(t, err)
					called++
					callErr = c.call(l, p)
				})
				drain.drain(t, p)
				require.Equal(t, 1, called, "the function ran before its batch completed")
				require.ErrorIs(t, callErr, eventlog.ErrConcurrentUse)
				assert.ErrorContains(t, callErr, c.name+" from a SendAsync function")

				// Nothing was closed, and the refused record is not stored.
				md, err := p.Send(ctx, eventlog.Record{Topic: "t", Value: []byte("after")})
				require.NoError(t, err)
				var values []string
				for v, err := range partition(t, l, "t", 0).Views(0) {
					require.NoError(t, err)
					values = append(values, string(v.Value))
				}
				want := []string{"first", "after"}
				if drain.name == "on a Send's goroutine" {
					want = []string{"first", "second", "after"}
				}
				assert.Equal(t, want, values)
				assert.Equal(t, int64(len(want)-1), md.Offset)
				assert.Zero(t, partition(t, l, "t", 1).HighWatermark(), "nothing reached partition 1")
				require.NoError(t, p.Close())
				require.NoError(t, l.Close())
			})
		}
	}
}

// A SendAsync from a SendAsync function works while the buffer has room;
// when it is full — here, held by a batch that lingers — waiting could be
// for the batches behind the function, so the record fails with
// ErrConcurrentUse instead.
func TestSendAsyncFromSendAsyncFunction(t *testing.T) {
	l := prodLog(t, t.TempDir(), nil, "t", eventlog.TopicConfig{Partitions: 2})
	p := prodNew(t, l, &eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}, BufferBytes: 1000, Linger: time.Hour})
	p.SendAsync(ctx, eventlog.Record{Topic: "t", Partition: 1, Value: make([]byte, 600)}, nil) // lingers, holding room

	var small, large error
	smallDone, largeDone := false, false
	p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: []byte("first")}, func(_ eventlog.RecordMetadata, err error) {
		require.NoError(t, err)
		p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: []byte("fits")}, func(_ eventlog.RecordMetadata, err error) {
			small, smallDone = err, true
		})
		p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: make([]byte, 600)}, func(_ eventlog.RecordMetadata, err error) {
			large, largeDone = err, true
		})
		assert.True(t, largeDone, "the record that found the buffer full failed at once")
	})
	_, err := p.Send(ctx, eventlog.Record{Topic: "t", Value: []byte("second")}) // drains partition 0 here
	require.NoError(t, err)
	require.True(t, largeDone)
	require.ErrorIs(t, large, eventlog.ErrConcurrentUse)
	assert.ErrorContains(t, large, "waiting for buffer room from a SendAsync function")

	require.NoError(t, p.Flush(ctx))
	require.True(t, smallDone)
	assert.NoError(t, small, "a send that finds room works from the function")
	assert.Equal(t, int64(3), partition(t, l, "t", 0).HighWatermark(), "first, second and fits")
	assert.Equal(t, int64(1), partition(t, l, "t", 1).HighWatermark(), "the lingering record")
}

// In a transaction, the SendAsync functions of its records run while
// CommitTransaction or AbortTransaction waits for them, holding the
// transaction. The calls from them that would wait for that — ending the
// transaction, beginning one, a send or offsets into it — fail with
// ErrConcurrentUse instead, and the commit completes. Without the check,
// the first of them hangs.
func TestTransactionCallsFromSendAsyncFunction(t *testing.T) {
	l := prodLog(t, t.TempDir(), nil, "t", eventlog.TopicConfig{Partitions: 1})
	p := prodNew(t, l, &eventlog.ProducerOptions{TransactionalID: "tx", Linger: time.Hour})
	fill(t, l, "t", 1, 1) // a record whose offset the transaction can take

	require.NoError(t, p.BeginTransaction())
	var errs []error
	var sendErr error
	p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: []byte("in the transaction")}, func(_ eventlog.RecordMetadata, err error) {
		require.NoError(t, err)
		errs = append(errs,
			p.CommitTransaction(context.Background()),
			p.AbortTransaction(context.Background()),
			p.BeginTransaction(),
			p.SendOffsetsToTransaction(context.Background(), map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t"}: {Offset: 1}}, eventlog.GroupMetadata{GroupID: "g"}))
		p.SendAsync(ctx, eventlog.Record{Topic: "t", Value: []byte("too late")}, func(_ eventlog.RecordMetadata, err error) { sendErr = err })
	})
	require.NoError(t, p.CommitTransaction(ctx)) // lingering until now: the function runs inside it
	require.Len(t, errs, 4, "the function ran inside the commit")
	for i, what := range []string{"commit transaction from", "abort transaction from", "begin transaction while a transaction ends", "send offsets to transaction while a transaction ends"} {
		require.ErrorIs(t, errs[i], eventlog.ErrConcurrentUse)
		assert.ErrorContains(t, errs[i], what)
	}
	require.ErrorIs(t, sendErr, eventlog.ErrConcurrentUse)
	assert.ErrorContains(t, sendErr, "send while a transaction ends")

	// The transaction committed with its one record, and the Producer goes on.
	assert.Equal(t, int64(3), partition(t, l, "t", 0).HighWatermark(), "the filled record, the transaction's and its COMMIT marker")
	require.NoError(t, p.BeginTransaction())
	require.NoError(t, p.AbortTransaction(ctx))
}
