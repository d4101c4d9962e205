package eventlog_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// openCompactTopic opens a Log in dir with 1 KiB segments and creates the
// compacted topic "t"; it returns the Log and the topic's partition 0.
func openCompactTopic(t *testing.T, dir string) (*eventlog.Log, *eventlog.Partition) {
	t.Helper()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	return l, partition(t, l, "t", 0)
}

// sendKeyed sends a record of key and value to topic "t" with prod.
func sendKeyed(t *testing.T, prod *eventlog.Producer, key, value string) {
	t.Helper()
	_, err := prod.Send(ctx, eventlog.Record{Topic: "t", Key: []byte(key), Value: []byte(value)})
	require.NoError(t, err)
}

// writeTxn sends a record of value for each of keys to topic "t" in one
// transaction of prod, and commits it, or aborts it.
func writeTxn(t *testing.T, prod *eventlog.Producer, commit bool, value string, keys ...string) {
	t.Helper()
	require.NoError(t, prod.BeginTransaction())
	for _, key := range keys {
		sendKeyed(t, prod, key, value)
	}
	if commit {
		require.NoError(t, prod.CommitTransaction(ctx))
	} else {
		require.NoError(t, prod.AbortTransaction(ctx))
	}
}

// putFillers appends 60 records of value to p, over 5 keys, enough to
// fill segments that the cleaner can clean.
func putFillers(t *testing.T, p *eventlog.Partition, value string) {
	t.Helper()
	for i := range 60 {
		putKV(t, p, fmt.Sprint("filler", i%5), []byte(value))
	}
}

// TestCompactTransactions: the cleaner drops the records of aborted
// transactions — a newer aborted value never wins over a committed one —
// keeps the transaction markers, and never cleans past the last stable
// offset.
func TestCompactTransactions(t *testing.T) {
	l, p := openCompactTopic(t, t.TempDir())
	prod := txnProducer(t, l, "tx")
	writeTxn(t, prod, true, "committed", "a", "b")
	writeTxn(t, prod, false, "aborted", "a")
	putFillers(t, p, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	// An open transaction: nothing from its first record on is cleaned.
	require.NoError(t, prod.BeginTransaction())
	sendKeyed(t, prod, "b", "open")
	open := p.LastStableOffset()
	putFillers(t, p, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy")
	require.NoError(t, l.Compact(ctx, "t"))

	latest, err := l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, "committed", string(latest["a"]), "the aborted newer value does not win")
	all := readAll(t, p, 0)
	values := valueStrings(all)
	assert.NotContains(t, values, "aborted", "aborted records are cleaned away")
	assert.Contains(t, values, "open")
	fillersBefore, fillersAfter := 0, 0
	for _, r := range all {
		switch {
		case r.Offset > open && string(r.Value) == "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy":
			fillersAfter++
		case r.Offset < open && string(r.Value) == "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx":
			fillersBefore++
		}
	}
	assert.Less(t, fillersBefore, 60, "what lies before the open transaction is cleaned")
	assert.Equal(t, 60, fillersAfter, "nothing after the last stable offset is cleaned")
	markers := 0
	for _, b := range eventlog.BatchProducerFields(t, p) {
		if b.Control {
			markers++
		}
	}
	assert.Equal(t, 2, markers, "the markers stay")

	require.NoError(t, prod.CommitTransaction(ctx))
	latest, err = l.ReplayLatest(ctx, "t")
	require.NoError(t, err)
	assert.Equal(t, "open", string(latest["b"]))
}

// A cleaning that merges segments removes the merged segments' aborted
// transaction indexes with their other files: none is left without its
// segment.
func TestCompactRemovesMergedTxnIndexes(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &eventlog.Options{SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", compactTopic))
	p := partition(t, l, "t", 0)
	prod := txnProducer(t, l, "tx")
	for i := range 6 { // an aborted transaction in each of several segments
		require.NoError(t, prod.BeginTransaction())
		_, err := prod.Send(ctx, eventlog.Record{Topic: "t", Key: []byte("a"), Value: []byte("aborted")})
		require.NoError(t, err)
		require.NoError(t, prod.AbortTransaction(ctx))
		for j := range 20 {
			putKV(t, p, fmt.Sprint("filler", j%3), []byte(fmt.Sprintf("%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", i)))
		}
	}
	partDir := filepath.Join(dir, "topics", "t", "0")
	txnIndexes := func() []string {
		names, err := filepath.Glob(filepath.Join(partDir, "*.txnindex"))
		require.NoError(t, err)
		return names
	}
	require.Greater(t, len(txnIndexes()), 2, "several segments hold aborted transactions")
	segmentsBefore, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.NoError(t, l.Compact(ctx, "t"))
	segmentsAfter, err := filepath.Glob(filepath.Join(partDir, "*.log"))
	require.NoError(t, err)
	require.Less(t, len(segmentsAfter), len(segmentsBefore), "the cleaning merged segments")

	for _, name := range txnIndexes() {
		assert.FileExists(t, strings.TrimSuffix(name, ".txnindex")+".log", "a transaction index without its segment")
	}
	for _, seg := range segmentsAfter[:len(segmentsAfter)-1] {
		assert.FileExists(t, strings.TrimSuffix(seg, ".log")+".txnindex", "a closed segment without its transaction index")
	}
	assert.NotContains(t, valueStrings(readAll(t, p, 0)), "aborted")
	require.NoError(t, l.Close())
	assert.Empty(t, verify(t, dir).Problems, "the merged segments' aborts went with their records")
}
