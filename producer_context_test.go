package eventlog_test

import (
	"bytes"
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// A Send that finds no drainer running appends its partition's batches
// itself. When a batch of other records lies ahead of its own, its ctx must
// still bound the wait: it returns ctx.Err() without its record stored, and
// the records ahead are stored once.
func TestProducerSendDrainingWatchesContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bg := context.Background()
		dir := t.TempDir()
		l := prodLog(t, dir, &eventlog.Options{Durability: eventlog.DurabilityOS}, "t", eventlog.TopicConfig{})
		// The two records do not fit one batch: the Send seals the lingering
		// batch of the first and appends it before its own.
		p, err := l.NewProducer(&eventlog.ProducerOptions{Linger: time.Hour, BatchBytes: 200})
		require.NoError(t, err)
		block := newProdBlocker()
		ahead := eventlog.Record{Topic: "t", Key: []byte("ahead"), Value: bytes.Repeat([]byte("a"), 60)}
		p.SendAsync(bg, ahead, block.callback)

		c, cancel := context.WithCancel(bg)
		var sendErr error
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			_, sendErr = p.Send(c, eventlog.Record{Topic: "t", Key: []byte("mine"), Value: bytes.Repeat([]byte("m"), 60)})
		}()
		<-block.entered // the batch ahead is appended; its function holds its drainer
		cancel()
		synctest.Wait()
		select {
		case <-returned:
			assert.ErrorIs(t, sendErr, context.Canceled)
		default:
			assert.Fail(t, "Send did not return after its ctx ended, while the batch ahead of its own was appended")
		}
		close(block.release)
		<-returned
		require.NoError(t, p.Flush(bg))
		recs := readAll(t, partition(t, l, "t", 0), 0)
		if assert.Len(t, recs, 1, "the record ahead stored once; the cancelled Send's not at all") {
			assert.Equal(t, "ahead", string(recs[0].Key))
		}
		require.NoError(t, p.Close())
		require.NoError(t, l.Close())
	})
}
