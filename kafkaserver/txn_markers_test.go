package kafkaserver_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
)

// A read_committed kgo consumer of a compacted topic whose cleaner removed
// the transaction markers of transactions without records left, and kept
// one emptied for its producer's epoch, reads every committed record.
func TestReadCommittedFetchAfterMarkersCleaned(t *testing.T) {
	var mu sync.Mutex
	now := time.UnixMilli(1_700_000_000_000)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := eventlogtest.New(t, &eventlog.Options{Now: clock, SegmentBytes: 1024, RecoveryPointInterval: time.Hour, CleanerCheckInterval: time.Hour})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact, DeleteRetention: time.Hour}))
	f := serve(t, l, nil)
	ctx := testContext(t)
	txp, err := f.log.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer txp.Close()
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	put := func(key, value string) {
		_, err := p.Append(ctx, []eventlog.Record{{Key: []byte(key), Value: []byte(value)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	for i := range 13 { // the last one aborts: its marker alone carries the epoch
		require.NoError(t, txp.BeginTransaction())
		_, err := txp.Send(ctx, eventlog.Record{Topic: "t", Key: []byte(fmt.Sprint("k", i%4)), Value: []byte(fmt.Sprint("v", i))})
		require.NoError(t, err)
		if i%3 != 0 {
			require.NoError(t, txp.CommitTransaction(ctx))
		} else {
			require.NoError(t, txp.AbortTransaction(ctx))
		}
	}
	put("k0", "plain k0")
	for i := range 60 {
		put(fmt.Sprint("filler", i%4), fmt.Sprintf("filler%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i))
	}
	for range 3 {
		require.NoError(t, l.Compact(ctx, "t"))
		mu.Lock()
		now = now.Add(2 * time.Hour)
		mu.Unlock()
	}
	markers, emptied := 0, 0
	for b, err := range p.Batches(0) {
		require.NoError(t, err)
		if b.Control {
			markers++
			if b.ControlRecord == nil {
				emptied++
			}
		}
	}
	require.Equal(t, 1, emptied, "the producer's last marker stays, emptied")
	require.Less(t, markers, 13, "markers removed")

	var want []string
	for from := int64(0); ; {
		recs, err := p.Read(from, 1<<20)
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			want = append(want, string(r.Value))
		}
		from = recs[len(recs)-1].Offset + 1
	}
	committed := f.client(t, kgo.ConsumeTopics("t"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50e6))
	var got []string
	for _, r := range consume(t, ctx, committed, len(want)) {
		got = append(got, string(r.Value))
	}
	assert.Equal(t, want, got)
}
