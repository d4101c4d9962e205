package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzTransactionRecovery makes the fuzzer's bytes the last segment, the
// newest producer-state snapshot and the active .txnindex of a partition
// written by transactional and idempotent producers, then crashed with a
// transaction open. Open must not panic; it fails with a *CorruptError or
// succeeds, and then what read_committed reads is part of what
// read_uncommitted reads, below a last stable offset no higher than the
// high watermark, with no transaction left open, and a second Open reads
// the same.
//
//	go test -run '^$' -fuzz '^FuzzTransactionRecovery$' -fuzztime 1m

// txnFuzzLog is the crashed log the fuzzer's bytes are put into.
type txnFuzzLog struct {
	files                map[string][]byte
	lastLog, snap, index string // paths the fuzzer replaces
}

var buildTxnFuzzLog = sync.OnceValues(func() (*txnFuzzLog, error) {
	fsys := NewMemFS()
	opts := fuzzOptions(fsys, false)
	l, err := Open(fuzzLogDir, opts)
	if err != nil {
		return nil, err
	}
	if err := l.CreateTopic("f", TopicConfig{}); err != nil {
		return nil, err
	}
	ctx := context.Background()
	prod, err := l.NewProducer(&ProducerOptions{TransactionalID: "fz", Linger: -1})
	if err != nil {
		return nil, err
	}
	p, err := l.Partition("f", 0)
	if err != nil {
		return nil, err
	}
	idem := ProducerID{ID: 999}
	for i := range 12 {
		if err := prod.BeginTransaction(); err != nil {
			return nil, err
		}
		for j := range 1 + i%3 {
			if _, err := prod.Send(ctx, Record{Topic: "f", Key: []byte("k"), Value: []byte(fmt.Sprintf("txn %d.%d %s", i, j, strings.Repeat("t", i*5)))}); err != nil {
				return nil, err
			}
		}
		if _, err := p.Append(ctx, []Record{{Key: []byte("i"), Value: []byte(fmt.Sprint("idem ", i))}}, AppendOptions{Producer: idem, Sequence: int32(i)}); err != nil {
			return nil, err
		}
		if i%3 == 1 {
			err = prod.AbortTransaction(ctx)
		} else {
			err = prod.CommitTransaction(ctx)
		}
		if err != nil {
			return nil, err
		}
		if i == 6 {
			if err := l.checkpointAll(); err != nil {
				return nil, err
			}
		}
	}
	if err := prod.BeginTransaction(); err != nil {
		return nil, err
	}
	if _, err := prod.Send(ctx, Record{Topic: "f", Key: []byte("k"), Value: []byte("open")}); err != nil {
		return nil, err
	}
	if err := l.checkpointAll(); err != nil {
		return nil, err
	}
	if err := Abandon(l); err != nil {
		return nil, err
	}
	files, err := memFSFiles(fsys)
	if err != nil {
		return nil, err
	}
	f := &txnFuzzLog{files: files}
	for p := range files {
		name := path.Base(p)
		if strings.Contains(p, "/f/0/") {
			switch {
			case strings.HasSuffix(name, logExt) && p > f.lastLog:
				f.lastLog = p
			case strings.HasSuffix(name, snapshotExt) && p > f.snap:
				f.snap = p
			}
		}
	}
	f.index = strings.TrimSuffix(f.lastLog, logExt) + txnIndexExt
	if f.snap == "" {
		return nil, errors.New("no snapshot written")
	}
	return f, nil
})

// Flags of FuzzTransactionRecovery: which files the fuzzer's bytes replace.
const (
	txnFuzzSegment = 1 << iota
	txnFuzzSnapshot
	txnFuzzIndex
	txnFuzzFixCRCs
)

func FuzzTransactionRecovery(f *testing.F) {
	base, err := buildTxnFuzzLog()
	require.NoError(f, err)
	last, index := base.files[base.lastLog], base.files[base.index]
	payload := base.files[base.snap][6:] // after the version and CRC
	for flags := byte(0); flags < 8; flags++ {
		f.Add(last, payload, index, flags)
	}
	f.Add(last[:len(last)-9], payload, index, byte(txnFuzzSegment))
	f.Add(last, payload[:len(payload)-5], index, byte(txnFuzzSnapshot))
	f.Add(last, payload, append(bytes.Clone(index), 1, 2, 3), byte(txnFuzzIndex))
	f.Add(last, payload, make([]byte, 34), byte(txnFuzzIndex))
	f.Fuzz(func(t *testing.T, logData, snapPayload, indexData []byte, flags byte) {
		if len(logData) > 64<<10 || len(snapPayload) > 8<<10 || len(indexData) > 4<<10 {
			t.Skip("keep each run fast")
		}
		replace := map[string][]byte{}
		if flags&txnFuzzSegment != 0 {
			logData = bytes.Clone(logData)
			if flags&txnFuzzFixCRCs != 0 {
				fixCRCs(logData)
			}
			replace[base.lastLog] = logData
		}
		if flags&txnFuzzSnapshot != 0 {
			replace[base.snap] = sealSnapshot(snapPayload)
		}
		if flags&txnFuzzIndex != 0 {
			replace[base.index] = indexData
		}
		fsys := base.install(t, replace)
		committed, err := readTxnFuzzLog(t, fsys)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt, "Open fails only on corruption")
			return
		}
		again, err := readTxnFuzzLog(t, fsys)
		require.NoError(t, err, "a recovered log opens again")
		assert.Equal(t, committed, again, "a second Open reads committed the same")
	})
}

func (f *txnFuzzLog) fsys(tb testing.TB) *MemFS { return f.install(tb, nil) }

// install writes the log's files into a fresh MemFS, replaced by those in
// replace.
func (f *txnFuzzLog) install(tb testing.TB, replace map[string][]byte) *MemFS {
	return installFiles(tb, f.files, replace)
}

// readTxnFuzzLog opens the log, checks the isolation invariants and
// returns what read_committed reads.
func readTxnFuzzLog(t *testing.T, fsys *MemFS) ([]string, error) {
	return readTxnLog(t, fsys, fuzzLogDir)
}

// readTxnLog is readTxnFuzzLog for the log in dir of fsys.
func readTxnLog(t *testing.T, fsys FS, dir string) ([]string, error) {
	l, err := Open(dir, fuzzOptions(fsys, false))
	if err != nil {
		return nil, err
	}
	defer func() { require.NoError(t, Abandon(l)) }()
	p, err := l.Partition("f", 0)
	require.NoError(t, err)
	require.LessOrEqual(t, p.LastStableOffset(), p.HighWatermark())
	assert.Equal(t, p.HighWatermark(), p.LastStableOffset(), "Open leaves no transaction open")
	read := func(level IsolationLevel) ([]string, error) {
		var out []string
		for off := p.LogStartOffset(); off < p.HighWatermark(); {
			recs, next, err := p.readAt(nil, off, 1<<20, level)
			if err != nil {
				return nil, err
			}
			for _, r := range recs {
				out = append(out, fmt.Sprintf("%d %s", r.Offset, r.Value))
			}
			if next <= off {
				break
			}
			off = next
		}
		return out, nil
	}
	committed, err := read(ReadCommitted)
	if err != nil {
		return nil, err
	}
	all, err := read(ReadUncommitted)
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(all))
	for _, r := range all {
		in[r] = true
	}
	for _, r := range committed {
		require.True(t, in[r], "read committed %q, which is not in the log", r)
	}
	return committed, nil
}

// TestTransactionFuzzLog checks the log FuzzTransactionRecovery starts from,
// and that a damaged snapshot or .txnindex is rebuilt from the log to the
// same result.
func TestTransactionFuzzLog(t *testing.T) {
	base, err := buildTxnFuzzLog()
	require.NoError(t, err)
	committed, err := readTxnFuzzLog(t, base.fsys(t))
	require.NoError(t, err)
	joined := strings.Join(committed, "\n")
	assert.Contains(t, joined, " txn 0.0")
	assert.Contains(t, joined, " txn 11.2")
	assert.NotContains(t, joined, " txn 1.0", "aborted")
	assert.NotContains(t, joined, " txn 10.0", "aborted")
	assert.NotContains(t, joined, " open", "open at the crash, aborted at Open")
	assert.Contains(t, joined, " idem 11")
	for name, replace := range map[string]map[string][]byte{
		"damaged snapshot": {base.snap: []byte("junk")},
		"damaged txnindex": {base.index: []byte("junk")},
		"no snapshot":      {base.snap: []byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 0}},
	} {
		got, err := readTxnFuzzLog(t, base.install(t, replace))
		require.NoError(t, err, name)
		assert.Equal(t, committed, got, name)
	}
}

// TestOversizedProducerStateIsNotRead: a snapshot or .txnindex far larger
// than its kind can be (sparse, so it takes no disk) is not read, which
// would take more memory than the machine has: Open rebuilds the producer
// state from the log, to the same result.
func TestOversizedProducerStateIsNotRead(t *testing.T) {
	base, err := buildTxnFuzzLog()
	require.NoError(t, err)
	want, err := readTxnFuzzLog(t, base.fsys(t))
	require.NoError(t, err)
	var sealed []string
	for p := range base.files {
		if strings.HasSuffix(p, txnIndexExt) && p != base.index {
			sealed = append(sealed, p)
		}
	}
	require.NotEmpty(t, sealed, "sealed segments with aborted transactions")
	for name, huge := range map[string][]string{
		"snapshot":        {base.snap},
		"sealed txnindex": sealed,
		"active txnindex": {base.index},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for p, data := range base.files {
				p = filepath.Join(dir, filepath.FromSlash(p))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, data, 0o644))
			}
			for _, p := range huge {
				f, err := os.OpenFile(filepath.Join(dir, filepath.FromSlash(p)), os.O_WRONLY|os.O_CREATE, 0o644)
				require.NoError(t, err)
				require.NoError(t, f.Truncate(64<<30))
				require.NoError(t, f.Close())
			}
			got, err := readTxnLog(t, OSFS{}, filepath.Join(dir, fuzzLogDir))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
}
