package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestBatchesControlRecord checks that Batches hands out the decoded
// record of each control batch, the transaction marker, and none for
// other batches.
func TestBatchesControlRecord(t *testing.T) {
	clk := newClock()
	l := txnLog(t, t.TempDir(), &eventlog.Options{Now: clk.Now})
	p := txnProducer(t, l, "tx")
	for _, commit := range []bool{true, false} {
		require.NoError(t, p.BeginTransaction())
		_, err := p.Send(ctx, eventlog.Record{Topic: "out", Partition: 1, Key: []byte("k"), Value: []byte("v")})
		require.NoError(t, err)
		if commit {
			require.NoError(t, p.CommitTransaction(ctx))
		} else {
			require.NoError(t, p.AbortTransaction(ctx))
		}
	}

	var got []eventlog.BatchInfo
	for b, err := range partition(t, l, "out", 1).Batches(0) {
		require.NoError(t, err)
		got = append(got, b)
	}
	require.Len(t, got, 4)
	for i, want := range []eventlog.ControlType{-1, eventlog.ControlCommit, -1, eventlog.ControlAbort} {
		b := got[i]
		if want < 0 {
			assert.False(t, b.Control, "batch %d", i)
			assert.Nil(t, b.ControlRecord, "batch %d is no control batch", i)
			continue
		}
		require.True(t, b.Control, "batch %d", i)
		require.NotNil(t, b.ControlRecord, "batch %d", i)
		c := *b.ControlRecord
		assert.True(t, c.TransactionMarker())
		assert.Equal(t, eventlog.ControlRecord{
			Offset: b.BaseOffset, Timestamp: b.MaxTimestamp, KeySize: 4, ValueSize: 6, Type: want, CoordinatorEpoch: 0,
		}, c, "batch %d", i)
		assert.Equal(t, clk.Now().UnixMilli(), c.Timestamp.UnixMilli())
	}
	assert.Equal(t, "COMMIT", eventlog.ControlCommit.String())
	assert.Equal(t, "ABORT", eventlog.ControlAbort.String())
	assert.Equal(t, "ControlType(3)", eventlog.ControlType(3).String())
	other := eventlog.ControlRecord{Type: 3}
	assert.False(t, other.TransactionMarker(), "KRaft's control records end no transaction")
}
