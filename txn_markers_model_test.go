package eventlog_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestCompactMarkersModel runs random operations on a compacted
// (compact,delete) partition against a model of its records, to try to
// break the removal of transaction markers (compaction_markers.go):
// transactions of three producers that send records and group offsets
// (SendOffsetsToTransaction), commit, abort, and are fenced or left open;
// plain appends; producer-state snapshots taken with transactions open;
// cleanings, with the clock moved past the markers' delete horizons, and,
// for odd seeds, a MinCompactionLag that leaves recent segments out;
// DeleteRecords; clean reopens and crashes of every MemFS mode, a third of
// them without the producer-state snapshots, so that Open replays the log,
// and a sixth with the newest one damaged.
//
// After each step it checks that a read_committed read from the log start
// — by a Consumer, by a Kafka client given the partition's
// AbortedTransactions as a Fetch answers them, and by a read-only Log
// after Refresh — reads a subsequence of the model's committed records
// below the last stable offset that holds each key's newest one, no record
// a read before found removed, in offset order; that a read_committed
// Consumer tailing the partition all along gets committed records only;
// that the group's committed offset is the model's; that the last stable
// offset is the high watermark with no transaction open; and, at each
// reopen, that Verify finds no problem (but a crash's torn tail). During
// each step of a plain cleaning's swap, read_committed reads, by Consumer
// and by Kafka client, read nothing they did not read before it.
//
// EVENTLOG_MARKER_MODEL_SEEDS and EVENTLOG_MARKER_MODEL_STEPS run more.
func TestCompactMarkersModel(t *testing.T) {
	seeds := envInt(t, "EVENTLOG_MARKER_MODEL_SEEDS", 3)
	steps := envInt(t, "EVENTLOG_MARKER_MODEL_STEPS", 150)
	if testing.Short() {
		steps = min(steps, 80)
	}
	removed := 0
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := &markerModel{t: t, rng: rand.New(rand.NewPCG(seed, 534)), fsys: eventlog.NewMemFS(), clk: newClock(),
				at: map[int64]int{}, gone: map[string]bool{}, open: make([]int, 3), group: eventlog.OffsetAndMetadata{Offset: -1}}
			for i := range m.open {
				m.open[i] = -1
			}
			require.NoError(t, m.fsys.MkdirAll("/data", 0o755))
			require.NoError(t, m.fsys.SyncDir("/"))
			m.opts = &eventlog.Options{FS: m.fsys, Now: m.clk.Now, Durability: eventlog.DurabilityFsync,
				SegmentBytes: 1024, RecoveryPointInterval: time.Hour, CleanerCheckInterval: time.Hour,
				ProducerIDExpiration: []time.Duration{time.Hour, 3 * time.Hour}[seed%2]}
			// Odd seeds clean only what is 30 minutes old: a cleaning may
			// cover part of a transaction.
			m.lag = time.Duration(seed%2) * 30 * time.Minute
			m.start(true)
			defer func() { m.stop(false) }()
			for step := range steps {
				m.log = append(m.log, m.step())
				m.check(step)
			}
			// Each transaction with a record past the log start had a
			// marker past it.
			had := map[int]bool{}
			for _, r := range m.recs {
				if r.txn >= 0 && r.offset >= m.logStart && m.txns[r.txn] != modelOpen {
					had[r.txn] = true
				}
			}
			markers := 0
			for _, b := range eventlog.BatchProducerFields(t, m.p) {
				if b.Control && b.BaseOffset >= m.logStart {
					markers++
				}
			}
			t.Logf("%d markers of transactions with records, %d left", len(had), markers)
			removed += max(len(had)-markers, 0)
		})
	}
	require.Positive(t, removed, "the cleanings removed markers")
}

// markerRecord is a record the model knows.
type markerRecord struct {
	offset     int64
	key, value string
	txn        int // index into markerModel.txns, -1 outside transactions
}

type markerModel struct {
	t     *testing.T
	rng   *rand.Rand
	fsys  *eventlog.MemFS
	clk   *clock
	opts  *eventlog.Options
	l     *eventlog.Log
	p     *eventlog.Partition
	prods []*eventlog.Producer
	open  []int // each producer's open transaction, -1 for none
	txns  []modelTxnState
	recs  []markerRecord  // by offset
	at    map[int64]int   // index in recs of the record at an offset
	gone  map[string]bool // committed records a read found removed
	seq   int
	log   []string // the operations so far

	logStart int64                        // where DeleteRecords moved the log start
	offsets  []eventlog.OffsetAndMetadata // the group offset each transaction sends, Offset -1 for none
	group    eventlog.OffsetAndMetadata   // the model's committed group offset, Offset -1 for none
	tail     *eventlog.Consumer           // a read_committed consumer tailing the partition
	tailNext int64                        // the offset after the last record it got
	lag      time.Duration                // the topic's MinCompactionLag
	ro       *eventlog.Log                // a read-only Log of the directory, refreshed
}

func (m *markerModel) start(create bool) {
	t := m.t
	l, err := eventlog.Open("/data", m.opts)
	require.NoError(t, err, "ops: %q", m.log)
	m.l = l
	if create {
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompactDelete, DeleteRetention: time.Hour, SegmentBytes: 1024, MinCompactionLag: m.lag}))
	}
	m.p = partition(t, l, "t", 0)
	m.prods = make([]*eventlog.Producer, len(m.open))
	for i := range m.prods {
		m.newProducer(i)
	}
	m.tail, err = l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1, MaxPollRecords: 3})
	require.NoError(t, err)
	require.NoError(t, m.tail.Assign(eventlog.TopicPartition{Topic: "t"}))
	require.NoError(t, m.tail.Seek(eventlog.TopicPartition{Topic: "t"}, max(m.tailNext, m.p.LogStartOffset())))
	ro := *m.opts
	ro.ReadOnly = true
	m.ro, err = eventlog.Open("/data", &ro)
	require.NoError(t, err, "a read-only Log; ops: %q", m.log)
}

// newProducer makes transactional producer i, which aborts the open
// transaction of the one before it.
func (m *markerModel) newProducer(i int) {
	var err error
	m.prods[i], err = m.l.NewProducer(&eventlog.ProducerOptions{TransactionalID: fmt.Sprint("mm-", i), Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(m.t, err, "ops: %q", m.log)
	if m.open[i] >= 0 {
		m.end(i, modelAborted)
	}
}

// stepOf returns the step that sent the group offset o.
func stepOf(o eventlog.OffsetAndMetadata) int {
	n, _ := strconv.Atoi(o.Metadata)
	return n
}

// begin makes sure producer i has a transaction open.
func (m *markerModel) begin(i int) {
	if m.open[i] < 0 {
		require.NoError(m.t, m.prods[i].BeginTransaction())
		m.open[i] = len(m.txns)
		m.txns = append(m.txns, modelOpen)
		m.offsets = append(m.offsets, eventlog.OffsetAndMetadata{Offset: -1})
	}
}

// end ends the open transaction of producer i in the model.
func (m *markerModel) end(i int, state modelTxnState) {
	txn := m.open[i]
	m.txns[txn], m.open[i] = state, -1
	// As in Kafka, a transaction's offsets replace the group's committed
	// ones if they were appended later (their Metadata is the step).
	if o := m.offsets[txn]; state == modelCommitted && o.Offset >= 0 && (m.group.Offset < 0 || stepOf(o) > stepOf(m.group)) {
		m.group = o
	}
}

// stop closes the Log, or crashes it with the filesystem.
func (m *markerModel) stop(crash bool) {
	if m.l == nil {
		return
	}
	require.NoError(m.t, m.tail.Close())
	require.NoError(m.t, m.ro.Close())
	if crash {
		modes := []eventlog.CrashMode{eventlog.CrashKeepAll, eventlog.CrashDropUnsynced, eventlog.CrashRandom, eventlog.CrashReorder}
		m.fsys.Crash(eventlog.CrashOptions{Mode: modes[m.rng.IntN(len(modes))], Rand: m.rng})
		_ = eventlog.Abandon(m.l)
	} else {
		for _, p := range m.prods {
			require.NoError(m.t, p.Close())
		}
		require.NoError(m.t, m.l.Close())
	}
	m.l = nil
	r, err := eventlog.Verify(ctx, "/data", &eventlog.VerifyOptions{FS: m.fsys})
	require.NoError(m.t, err)
	problems := r.Problems
	if crash { // the next Open cuts a torn tail
		problems = slices.DeleteFunc(problems, func(p eventlog.Problem) bool { return p.Kind == eventlog.ProblemTornTail })
	}
	require.Empty(m.t, problems, "Verify; ops: %q", m.log)
}

func (m *markerModel) add(off int64, key, value string, txn int) {
	require.Greater(m.t, off, m.lastOffset(), "offsets grow; ops: %q", m.log)
	m.at[off] = len(m.recs)
	m.recs = append(m.recs, markerRecord{offset: off, key: key, value: value, txn: txn})
}

func (m *markerModel) lastOffset() int64 {
	if len(m.recs) == 0 {
		return -1
	}
	return m.recs[len(m.recs)-1].offset
}

func (m *markerModel) step() string {
	t := m.t
	i := m.rng.IntN(len(m.prods))
	key := fmt.Sprint("k", m.rng.IntN(6))
	m.seq++
	value := fmt.Sprintf("v%03d-xxxxxxxxxxxxxxxx", m.seq)
	switch op := m.rng.IntN(100); {
	case op < 30:
		m.begin(i)
		md, err := m.prods[i].Send(ctx, eventlog.Record{Topic: "t", Key: []byte(key), Value: []byte(value)})
		require.NoError(t, err, "ops: %q", m.log)
		m.add(md.Offset, key, value, m.open[i])
		return fmt.Sprint("send ", i, " ", key, "@", md.Offset)
	case op < 42:
		if m.open[i] < 0 {
			return "nop"
		}
		require.NoError(t, m.prods[i].CommitTransaction(ctx), "ops: %q", m.log)
		m.end(i, modelCommitted)
		return fmt.Sprint("commit ", i)
	case op < 50:
		if m.open[i] < 0 {
			return "nop"
		}
		require.NoError(t, m.prods[i].AbortTransaction(ctx), "ops: %q", m.log)
		m.end(i, modelAborted)
		return fmt.Sprint("abort ", i)
	case op < 65:
		m.add(putKV(t, m.p, key, []byte(value)), key, value, -1)
		return "put " + key
	case op < 73:
		// Readers in the middle of each swap step read what they read
		// before.
		before := readCommittedValues(t, m.l, m.rng)
		eventlog.SetCleanerFailpoint(m.l, func(step string) error {
			lso := m.p.LastStableOffset()
			got := readCommittedValues(t, m.l, m.rng)
			require.Equal(t, got, m.kafkaClientRead(m.p.LogStartOffset(), lso), "swap step %s: a Kafka client's read_committed; ops: %q", step, m.log)
			for _, v := range got {
				require.Contains(t, before, v, "swap step %s; ops: %q", step, m.log)
			}
			return nil
		})
		require.NoError(t, m.l.Compact(ctx, "t"), "ops: %q", m.log)
		eventlog.SetCleanerFailpoint(m.l, nil)
		m.compactOffsets()
		return "compact"
	case op < 81:
		// Past the delete horizons of the markers so far: end the open
		// transactions first, so that none times out.
		for i, txn := range m.open {
			if txn < 0 {
				continue
			}
			if m.rng.IntN(2) == 0 {
				require.NoError(t, m.prods[i].CommitTransaction(ctx))
				m.end(i, modelCommitted)
			} else {
				require.NoError(t, m.prods[i].AbortTransaction(ctx))
				m.end(i, modelAborted)
			}
		}
		m.clk.Advance(40 * time.Minute)
		require.NoError(t, m.l.Compact(ctx, "t"), "ops: %q", m.log)
		m.compactOffsets()
		return "advance, compact"
	case op < 84:
		require.NoError(t, eventlog.CheckpointRecoveryPoints(m.l))
		return "checkpoint"
	case op < 86:
		m.begin(i)
		off := eventlog.OffsetAndMetadata{Offset: m.p.HighWatermark(), Metadata: fmt.Sprint(m.seq)}
		tp := eventlog.TopicPartition{Topic: "t"}
		require.NoError(t, m.prods[i].SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: off},
			eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}), "ops: %q", m.log)
		m.offsets[m.open[i]] = off
		return fmt.Sprint("offsets ", i, " ", off)
	case op < 87:
		// No further than the tailing consumer got.
		m.pollTail()
		to := m.logStart + m.rng.Int64N(m.tailNext-m.logStart+1)
		start, err := m.l.DeleteRecords(ctx, "t", 0, to)
		require.NoError(t, err, "ops: %q", m.log)
		m.logStart = start
		return fmt.Sprint("delete records to ", to)
	case op < 91:
		old := m.prods[i]
		m.newProducer(i)
		_ = old.Close()
		return fmt.Sprint("fence ", i)
	default:
		crash := m.rng.IntN(3) > 0
		m.stop(crash)
		for i, txn := range m.open {
			if txn >= 0 {
				m.end(i, modelAborted)
			}
		}
		switch m.rng.IntN(6) {
		case 0, 1:
			// Without producer-state snapshots, Open replays the log.
			dir := "/data/topics/t/0"
			names, err := m.fsys.ReadDir(dir)
			require.NoError(t, err)
			for _, n := range names {
				if strings.HasSuffix(n, ".snapshot") {
					require.NoError(t, m.fsys.Remove(dir+"/"+n))
				}
			}
			require.NoError(t, m.fsys.SyncDir(dir))
		case 2:
			// A damaged snapshot: Open falls back to an older one.
			dir := "/data/topics/t/0"
			names, err := m.fsys.ReadDir(dir)
			require.NoError(t, err)
			var snaps []string
			for _, n := range names {
				if strings.HasSuffix(n, ".snapshot") {
					snaps = append(snaps, n)
				}
			}
			if len(snaps) > 0 {
				slices.Sort(snaps)
				require.NoError(t, m.fsys.WriteFile(dir+"/"+snaps[len(snaps)-1], []byte("damaged"), 0o644))
			}
		}
		m.start(false)
		// A crash may take the unsynced tail: the records of the
		// transactions it left open, which are aborted, and no other.
		end := m.p.LogEndOffset()
		for len(m.recs) > 0 && m.lastOffset() >= end {
			r := m.recs[len(m.recs)-1]
			require.True(t, crash, "a clean close keeps %s", r.value)
			require.True(t, r.txn >= 0 && m.txns[r.txn] == modelAborted, "step %d: the crash took %s, not of an aborted transaction; ops: %q", len(m.log), r.value, m.log)
			delete(m.at, r.offset)
			m.recs = m.recs[:len(m.recs)-1]
		}
		return fmt.Sprint("reopen, crash ", crash)
	}
}

// compactOffsets cleans __consumer_offsets, once it exists.
func (m *markerModel) compactOffsets() {
	if err := m.l.Compact(ctx, "__consumer_offsets"); !errors.Is(err, eventlog.ErrTopicNotFound) {
		require.NoError(m.t, err, "ops: %q", m.log)
	}
}

// check reads the partition from the start at read_committed, and checks
// it against the model.
func (m *markerModel) check(step int) {
	t := m.t
	p := m.p
	hw, lso := p.HighWatermark(), p.LastStableOffset()
	quiet := !slices.ContainsFunc(m.open, func(txn int) bool { return txn >= 0 })
	if quiet {
		require.Equal(t, hw, lso, "step %d: no transaction is open; ops: %q", step, m.log)
	}
	// What compaction may leave: the committed records below the last
	// stable offset, each key's newest among them for sure.
	start := p.LogStartOffset()
	require.GreaterOrEqual(t, start, m.logStart, "step %d: the log start stays; ops: %q", step, m.log)
	m.logStart = start
	var committed []string
	newest := map[string]string{}
	for _, r := range m.recs {
		if r.offset >= lso {
			break
		}
		if r.offset < start {
			continue
		}
		if r.txn >= 0 && m.txns[r.txn] != modelCommitted {
			require.NotEqual(t, modelOpen, m.txns[r.txn], "step %d: a record of an open transaction below the last stable offset; ops: %q", step, m.log)
			continue
		}
		committed = append(committed, r.value)
		newest[r.key] = r.value
	}
	got := readCommittedValues(t, m.l, m.rng)
	require.Equal(t, got, m.kafkaClientRead(start, lso), "step %d: a Kafka client's read_committed, given AbortedTransactions; ops: %q", step, m.log)
	j := 0
	for _, v := range got {
		require.False(t, m.gone[v], "step %d: %s came back; ops: %q", step, v, m.log)
		for j < len(committed) && committed[j] != v {
			j++
		}
		require.Less(t, j, len(committed), "step %d: read_committed read %s, not committed or out of order: got %q, committed %q; ops: %q", step, v, got, committed, m.log)
	}
	for k, v := range newest {
		require.Contains(t, got, v, "step %d: the newest committed record of key %s; ops: %q", step, k, m.log)
	}
	for _, v := range committed {
		if !slices.Contains(got, v) {
			m.gone[v] = true
		}
	}
	m.pollTail()

	tp := eventlog.TopicPartition{Topic: "t"}
	offs, err := m.l.CommittedOffsets("g", []eventlog.TopicPartition{tp})
	require.NoError(t, err)
	if m.group.Offset < 0 {
		require.NotContains(t, offs, tp, "step %d: no committed group offset; ops: %q", step, m.log)
	} else {
		require.Equal(t, m.group, offs[tp], "step %d: the committed group offset; ops: %q", step, m.log)
	}

	if quiet {
		require.NoError(t, m.ro.Refresh(), "ops: %q", m.log)
		rp := partition(t, m.ro, "t", 0)
		require.Equal(t, hw, rp.HighWatermark(), "step %d: the read-only Log's high watermark; ops: %q", step, m.log)
		require.Equal(t, hw, rp.LastStableOffset(), "step %d: the read-only Log's last stable offset; ops: %q", step, m.log)
		require.Equal(t, got, readCommittedValues(t, m.ro, m.rng), "step %d: read_committed of the read-only Log; ops: %q", step, m.log)
	}
}

// pollTail polls the tailing consumer to the end: it gets committed
// records only, in order.
func (m *markerModel) pollTail() {
	t := m.t
	for {
		recs, err := m.tail.Poll(ctx)
		require.NoError(t, err, "ops: %q", m.log)
		if len(recs) == 0 {
			return
		}
		for _, r := range recs {
			require.GreaterOrEqual(t, r.Offset, m.tailNext, "ops: %q", m.log)
			i, ok := m.at[r.Offset]
			require.True(t, ok, "the tailing consumer got %s at %d, which the model does not know; ops: %q", r.Value, r.Offset, m.log)
			rec := m.recs[i]
			require.Equal(t, rec.value, string(r.Value))
			require.True(t, rec.txn < 0 || m.txns[rec.txn] == modelCommitted, "the tailing consumer got %s, not committed; ops: %q", r.Value, m.log)
			m.tailNext = r.Offset + 1
		}
	}
}

// readCommittedValues reads partition 0 of topic t at read_committed from
// its start.
func readCommittedValues(t *testing.T, l *eventlog.Log, rng *rand.Rand) []string {
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1, MaxPollRecords: 1 + rng.IntN(5)})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Assign(eventlog.TopicPartition{Topic: "t"}))
	require.NoError(t, c.SeekToBeginning())
	var out []string
	for r, err := range c.ReadToEnd(ctx) {
		require.NoError(t, err)
		out = append(out, string(r.Value))
	}
	return out
}

// kafkaClientRead reads the partition as a Kafka consumer at
// read_committed does from a broker's fetch answer: every batch below the
// last stable offset, skipping the batches of the aborted transactions the
// answer lists, each from its first offset to its producer's next ABORT
// marker.
func (m *markerModel) kafkaClientRead(start, lso int64) []string {
	t := m.t
	aborted := m.p.AbortedTransactions(start, lso)
	active := map[int64]bool{}
	var out []string
	for b, err := range m.p.Batches(start) {
		require.NoError(t, err)
		if b.BaseOffset >= lso {
			break
		}
		if b.LastOffset < start {
			continue
		}
		for len(aborted) > 0 && aborted[0].FirstOffset <= b.LastOffset {
			active[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		if b.Control {
			if b.ControlRecord != nil && b.ControlRecord.Type == eventlog.ControlAbort {
				delete(active, b.ProducerID)
			}
			continue
		}
		if b.Transactional && active[b.ProducerID] {
			continue
		}
		if b.Records == 0 {
			continue
		}
		require.Equal(t, b.BaseOffset, b.LastOffset, "one record a batch")
		i, ok := m.at[b.BaseOffset]
		require.True(t, ok, "a record the model knows at %d", b.BaseOffset)
		out = append(out, m.recs[i].value)
	}
	return out
}
