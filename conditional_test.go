package eventlog_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

func TestConditionalAppend(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("stream", eventlog.TopicConfig{}))
	p := partition(t, l, "stream", 0)

	off, err := p.Append(ctx, []eventlog.Record{rec("a", "1"), rec("a", "2")}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(0)})
	require.NoError(t, err, "an empty partition ends at 0")
	assert.Equal(t, int64(0), off)

	_, err = p.Append(ctx, []eventlog.Record{rec("a", "3")}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(1)})
	require.ErrorIs(t, err, eventlog.ErrUnexpectedOffset)
	var ue *eventlog.UnexpectedOffsetError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, eventlog.UnexpectedOffsetError{Topic: "stream", Partition: 0, Expected: 1, Actual: 2}, *ue)
	assert.Contains(t, err.Error(), `topic "stream" partition 0`)
	assert.Equal(t, int64(2), p.LogEndOffset(), "a refused append stores nothing")

	off, err = p.Append(ctx, []eventlog.Record{rec("a", "3")}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(ue.Actual)})
	require.NoError(t, err, "a retry at the actual end succeeds")
	assert.Equal(t, int64(2), off)
	assert.Equal(t, []string{"1", "2", "3"}, valueStrings(readAll(t, p, 0)))

	_, err = p.Append(ctx, []eventlog.Record{rec("a", "x")}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(-1)})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)

	got, ok := eventlog.IfEndOffset(7).Offset()
	assert.True(t, ok)
	assert.Equal(t, int64(7), got)
	_, ok = eventlog.EndOffsetCondition{}.Offset()
	assert.False(t, ok, "the zero condition is none")
}

// valueStrings returns the values of recs as strings.
func valueStrings(recs []eventlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Value)
	}
	return out
}

// TestConditionalAppendRace runs writers that each read the stream's end
// and append expecting it, retrying at the end they are told on a refusal,
// alongside writers whose conditions are always stale and writers that
// append without one, all sharing group commits: every position goes to
// exactly one conditional writer, each success lands where it expected,
// the stale conditions store nothing, and the plain appends all succeed.
func TestConditionalAppendRace(t *testing.T) {
	for _, d := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		t.Run(d.String(), func(t *testing.T) {
			l := openLog(t, t.TempDir(), &eventlog.Options{Durability: d})
			require.NoError(t, l.CreateTopic("stream", eventlog.TopicConfig{}))
			p := partition(t, l, "stream", 0)
			const writers, perWriter, plainWriters, plainPerWriter = 6, 40, 2, 30

			var (
				mu       sync.Mutex
				won      = map[int64]string{} // offset -> value of the conditional winner
				refusals int
			)
			var wg sync.WaitGroup
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					expect := p.LogEndOffset()
					for i := 0; i < perWriter; {
						value := fmt.Sprintf("c%d-%d", w, i)
						off, err := p.Append(ctx, []eventlog.Record{rec("s", value)}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(expect)})
						var ue *eventlog.UnexpectedOffsetError
						if errors.As(err, &ue) {
							mu.Lock()
							refusals++
							mu.Unlock()
							expect = ue.Actual
							continue
						}
						if !assert.NoError(t, err) || !assert.Equal(t, expect, off, "a conditional append lands where it expected") {
							return
						}
						mu.Lock()
						_, dup := won[off]
						won[off] = value
						mu.Unlock()
						assert.False(t, dup, "offset %d won twice", off)
						expect = off + 1
						i++
					}
				}()
			}
			for w := range plainWriters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range plainPerWriter {
						_, err := p.Append(ctx, []eventlog.Record{rec("s", fmt.Sprintf("p%d-%d", w, i))}, eventlog.AppendOptions{})
						assert.NoError(t, err, "a plain append beside refused conditional ones")
						// A condition that is always stale: it must store nothing.
						_, err = p.Append(ctx, []eventlog.Record{rec("s", "stale")}, eventlog.AppendOptions{Condition: eventlog.IfEndOffset(0)})
						assert.ErrorIs(t, err, eventlog.ErrUnexpectedOffset)
					}
				}()
			}
			wg.Wait()
			require.NoError(t, p.Wait(ctx, p.LogEndOffset()-1))

			all := readAll(t, p, 0)
			require.Len(t, all, writers*perWriter+plainWriters*plainPerWriter, "no stale append was stored")
			conditional := 0
			for i, r := range all {
				require.Equal(t, int64(i), r.Offset)
				v := string(r.Value)
				require.NotEqual(t, "stale", v)
				if strings.HasPrefix(v, "c") {
					conditional++
					assert.Equal(t, won[r.Offset], v, "offset %d holds the winner's record", r.Offset)
				}
			}
			assert.Equal(t, writers*perWriter, conditional)
			assert.Len(t, won, writers*perWriter)
			t.Logf("%d conditional appends refused and retried", refusals)
		})
	}
}

func TestProducerSendIf(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("stream", eventlog.TopicConfig{Partitions: 2}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer prod.Close()

	md, err := prod.SendIf(ctx, eventlog.Record{Topic: "stream", Partition: 1, Value: []byte("first")}, eventlog.IfEndOffset(0))
	require.NoError(t, err)
	assert.Equal(t, int32(1), md.Partition)
	assert.Equal(t, int64(0), md.Offset)

	// Records sent asynchronously around a failing SendIf share batches
	// with each other, never with it: they are all stored.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		prod.SendAsync(ctx, eventlog.Record{Topic: "stream", Partition: 1, Value: fmt.Appendf(nil, "async%d", i)}, func(_ eventlog.RecordMetadata, err error) {
			defer wg.Done()
			assert.NoError(t, err)
		})
		if i == 10 {
			_, err := prod.SendIf(ctx, eventlog.Record{Topic: "stream", Partition: 1, Value: []byte("late")}, eventlog.IfEndOffset(0))
			var ue *eventlog.UnexpectedOffsetError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, int64(0), ue.Expected)
			assert.GreaterOrEqual(t, ue.Actual, int64(1))
		}
	}
	wg.Wait()
	p := partition(t, l, "stream", 1)
	all := readAll(t, p, 0)
	require.Len(t, all, 21)
	assert.NotContains(t, valueStrings(all), "late")

	md, err = prod.SendIf(ctx, eventlog.Record{Topic: "stream", Partition: 1, Value: []byte("next")}, eventlog.IfEndOffset(p.LogEndOffset()))
	require.NoError(t, err)
	assert.Equal(t, int64(21), md.Offset)

	_, err = prod.SendIf(ctx, eventlog.Record{Topic: "stream", Partition: 1}, eventlog.EndOffsetCondition{})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "SendIf without a condition")
	_, err = prod.SendIf(ctx, eventlog.Record{Topic: "stream", Partition: 1}, eventlog.IfEndOffset(-2))
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
}

// TestProducerSendIfAcksNone: SendIf reports whether its condition held
// whatever Acks says. With AcksNone it waits until the record is written,
// rather than returning nil at once and dropping a refused condition into
// the log, where the writer would take its lost race for a win.
func TestProducerSendIfAcksNone(t *testing.T) {
	l := openLog(t, t.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, l.CreateTopic("stream", eventlog.TopicConfig{}))
	prod, err := l.NewProducer(&eventlog.ProducerOptions{Acks: eventlog.AcksNone})
	require.NoError(t, err)
	defer prod.Close()

	md, err := prod.SendIf(ctx, eventlog.Record{Topic: "stream", Value: []byte("first")}, eventlog.IfEndOffset(0))
	require.NoError(t, err)
	assert.Equal(t, int64(0), md.Offset, "the offset the condition was met at")

	_, err = prod.SendIf(ctx, eventlog.Record{Topic: "stream", Value: []byte("late")}, eventlog.IfEndOffset(0))
	var ue *eventlog.UnexpectedOffsetError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, eventlog.UnexpectedOffsetError{Topic: "stream", Partition: 0, Expected: 0, Actual: 1}, *ue)
	require.NoError(t, prod.Flush(ctx))
	assert.Equal(t, []string{"first"}, valueStrings(readAll(t, partition(t, l, "stream", 0), 0)))
}
