package eventlog_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestReadCommittedModel runs random operations — transactional producers
// sending, committing and aborting, plain and idempotent appends, a Log
// closed or crashed with transactions open — against a model of what each
// isolation level must read, and checks after every step: a fresh
// read_committed consumer (through Poll and through the view iterators),
// Replay, a read_uncommitted consumer, and a read_committed consumer that
// has been tailing the partitions all along.

// modelEntry is one record the model knows, at its offset.
type modelEntry struct {
	value string
	txn   int // index into modelRun.txns, -1 for a record outside transactions
}

type modelTxnState int8

const (
	modelOpen modelTxnState = iota
	modelCommitted
	modelAborted
)

type modelRun struct {
	t       *testing.T
	dir     string
	rng     *rand.Rand
	l       *eventlog.Log
	prods   []*eventlog.Producer // transactional, nil when closed
	open    []int                // the open transaction of each producer, -1 for none
	plain   *eventlog.Producer
	txns    []modelTxnState
	parts   [2]map[int64]modelEntry
	tail    *eventlog.Consumer
	tailGot [2][]string
	seq     int
	clock   *fakeClock
}

const modelTopic = "m"

func TestReadCommittedModel(t *testing.T) {
	seeds := envInt(t, "EVENTLOG_TXN_MODEL_SEEDS", 4)
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			m := &modelRun{t: t, dir: t.TempDir(), rng: rand.New(rand.NewPCG(seed, 12)), open: []int{-1, -1, -1}, clock: newFakeClock()}
			m.parts = [2]map[int64]modelEntry{{}, {}}
			m.start()
			defer func() { m.stop(false) }()
			for step := range 250 {
				m.step()
				if step%10 == 0 {
					m.check()
				}
			}
			m.check()
		})
	}
}

func (m *modelRun) start() {
	t := m.t
	l, err := eventlog.Open(m.dir, &eventlog.Options{Durability: eventlog.DurabilityOS, Now: m.clock.Now})
	require.NoError(t, err)
	m.l = l
	if _, err := l.TopicConfig(modelTopic); err != nil {
		require.NoError(t, l.CreateTopic(modelTopic, eventlog.TopicConfig{Partitions: 2, SegmentBytes: 2048}))
	}
	m.prods = make([]*eventlog.Producer, len(m.open))
	for i := range m.prods {
		m.newProducer(i)
	}
	m.plain, err = l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}, Idempotent: m.rng.IntN(2) == 0})
	require.NoError(t, err)
	m.tail, err = l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1})
	require.NoError(t, err)
	require.NoError(t, m.tail.Assign(eventlog.TopicPartition{Topic: modelTopic, Partition: 0}, eventlog.TopicPartition{Topic: modelTopic, Partition: 1}))
	for p := range int32(2) {
		require.NoError(t, m.tail.Seek(eventlog.TopicPartition{Topic: modelTopic, Partition: p}, m.tailNext(p)))
	}
}

// newProducer makes transactional producer i, fencing the one before it.
func (m *modelRun) newProducer(i int) {
	var err error
	m.prods[i], err = m.l.NewProducer(&eventlog.ProducerOptions{TransactionalID: fmt.Sprint("model-", i), Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(m.t, err)
}

// fenced checks that producer i, fenced, can do nothing more, and replaces
// it.
func (m *modelRun) fenced(i int, old *eventlog.Producer) {
	t := m.t
	_, err := old.Send(ctx, eventlog.Record{Topic: modelTopic, Partition: int32(m.rng.IntN(2)), Key: []byte("k"), Value: []byte("zombie")})
	require.ErrorIs(t, err, eventlog.ErrProducerFenced, "a send of a fenced producer")
	require.ErrorIs(t, old.CommitTransaction(ctx), eventlog.ErrProducerFenced)
	require.NoError(t, old.Close())
}

// tailNext is where the tailing consumer goes on after a reopen: after the
// last record it got.
func (m *modelRun) tailNext(p int32) int64 {
	got := m.tailGot[p]
	if len(got) == 0 {
		return 0
	}
	for off, e := range m.parts[p] {
		if e.value == got[len(got)-1] {
			return off + 1
		}
	}
	m.t.Fatalf("tailing consumer got %q, which the model does not know", got[len(got)-1])
	return 0
}

// stop closes the Log, cleanly or as a crash; either way the open
// transactions end aborted.
func (m *modelRun) stop(crash bool) {
	if m.l == nil {
		return
	}
	require.NoError(m.t, m.tail.Close())
	if crash {
		require.NoError(m.t, eventlog.Abandon(m.l))
	} else {
		for _, p := range m.prods {
			require.NoError(m.t, p.Close())
		}
		require.NoError(m.t, m.plain.Close())
		require.NoError(m.t, m.l.Close())
	}
	for i, txn := range m.open {
		if txn >= 0 {
			m.txns[txn] = modelAborted
			m.open[i] = -1
		}
	}
	m.l = nil
}

func (m *modelRun) value() string {
	m.seq++
	return fmt.Sprint("v", m.seq)
}

func (m *modelRun) step() {
	t := m.t
	part := int32(m.rng.IntN(2))
	i := m.rng.IntN(len(m.prods))
	switch op := m.rng.IntN(22); {
	case op < 7: // a send in a transaction, opening one if needed
		if m.open[i] < 0 {
			require.NoError(t, m.prods[i].BeginTransaction())
			m.open[i] = len(m.txns)
			m.txns = append(m.txns, modelOpen)
		}
		v := m.value()
		md, err := m.prods[i].Send(ctx, eventlog.Record{Topic: modelTopic, Partition: part, Key: []byte("k"), Value: []byte(v)})
		require.NoError(t, err)
		m.parts[part][md.Offset] = modelEntry{value: v, txn: m.open[i]}
	case op < 10:
		if m.open[i] >= 0 {
			require.NoError(t, m.prods[i].CommitTransaction(ctx))
			m.txns[m.open[i]], m.open[i] = modelCommitted, -1
		}
	case op < 12:
		if m.open[i] >= 0 {
			require.NoError(t, m.prods[i].AbortTransaction(ctx))
			m.txns[m.open[i]], m.open[i] = modelAborted, -1
		}
	case op < 17:
		v := m.value()
		md, err := m.plain.Send(ctx, eventlog.Record{Topic: modelTopic, Partition: part, Key: []byte("k"), Value: []byte(v)})
		require.NoError(t, err)
		m.parts[part][md.Offset] = modelEntry{value: v, txn: -1}
	case op < 18:
		// A whole committed transaction over both partitions.
		p := m.prods[i]
		if m.open[i] >= 0 {
			return
		}
		require.NoError(t, p.BeginTransaction())
		txn := len(m.txns)
		m.txns = append(m.txns, modelOpen)
		for part := range int32(2) {
			v := m.value()
			md, err := p.Send(ctx, eventlog.Record{Topic: modelTopic, Partition: part, Key: []byte("k"), Value: []byte(v)})
			require.NoError(t, err)
			m.parts[part][md.Offset] = modelEntry{value: v, txn: txn}
		}
		require.NoError(t, p.CommitTransaction(ctx))
		m.txns[txn] = modelCommitted
	case op < 19:
		m.tailPoll()
	case op < 20:
		// A new producer of the transactional ID fences the old one, and
		// aborts its open transaction.
		old := m.prods[i]
		m.newProducer(i)
		if m.open[i] >= 0 {
			m.txns[m.open[i]], m.open[i] = modelAborted, -1
			m.fenced(i, old)
		} else {
			require.NoError(t, old.Close())
		}
	case op < 21:
		// Every open transaction times out: the Log aborts it, and fences
		// its producer.
		m.clock.Advance(eventlog.DefaultTransactionTimeout + time.Second)
		eventlog.AbortTimedOutTransactions(m.l)
		for i, txn := range m.open {
			if txn >= 0 {
				m.txns[txn], m.open[i] = modelAborted, -1
				old := m.prods[i]
				m.newProducer(i)
				m.fenced(i, old)
			}
		}
	default:
		m.stop(m.rng.IntN(2) == 0)
		m.start()
	}
}

// expected returns what each isolation level reads of partition p now.
func (m *modelRun) expected(p int32) (committed, all []string) {
	offsets := make([]int64, 0, len(m.parts[p]))
	for off := range m.parts[p] {
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	stable := true
	for _, off := range offsets {
		e := m.parts[p][off]
		all = append(all, e.value)
		state := modelCommitted
		if e.txn >= 0 {
			state = m.txns[e.txn]
		}
		if state == modelOpen {
			stable = false // the last stable offset
		}
		if stable && state == modelCommitted {
			committed = append(committed, e.value)
		}
	}
	return committed, all
}

func (m *modelRun) tailPoll() {
	for {
		recs, err := m.tail.Poll(ctx)
		require.NoError(m.t, err)
		if len(recs) == 0 {
			return
		}
		for _, r := range recs {
			m.tailGot[r.Partition] = append(m.tailGot[r.Partition], string(r.Value))
		}
	}
}

func (m *modelRun) check() {
	t := m.t
	m.tailPoll()
	for p := range int32(2) {
		committed, all := m.expected(p)
		tp := eventlog.TopicPartition{Topic: modelTopic, Partition: p}
		require.Equal(t, committed, m.pollAll(tp, eventlog.ReadCommitted), "partition %d: read_committed through Poll", p)
		require.Equal(t, committed, m.viewAll(tp), "partition %d: read_committed through ViewsToEnd", p)
		require.Equal(t, all, m.pollAll(tp, eventlog.ReadUncommitted), "partition %d: read_uncommitted", p)
		require.Equal(t, committed, m.tailGot[p], "partition %d: the tailing read_committed consumer", p)
		var replayed []string
		require.NoError(t, m.l.Replay(ctx, modelTopic, func(v *eventlog.RecordView) error {
			if v.Partition == p {
				replayed = append(replayed, string(v.Value))
			}
			return nil
		}))
		require.Equal(t, committed, replayed, "partition %d: Replay", p)
	}
}

func (m *modelRun) pollAll(tp eventlog.TopicPartition, level eventlog.IsolationLevel) []string {
	c, err := m.l.NewConsumer(&eventlog.ConsumerOptions{IsolationLevel: level, FetchMaxWait: -1, MaxPollRecords: 1 + m.rng.IntN(7)})
	require.NoError(m.t, err)
	defer c.Close()
	require.NoError(m.t, c.Assign(tp))
	require.NoError(m.t, c.SeekToBeginning())
	var out []string
	for {
		recs, err := c.Poll(ctx)
		require.NoError(m.t, err)
		if len(recs) == 0 {
			end, err := c.Position(tp)
			require.NoError(m.t, err)
			p, err := m.l.Partition(tp.Topic, tp.Partition)
			require.NoError(m.t, err)
			want := p.HighWatermark()
			if level == eventlog.ReadCommitted {
				want = p.LastStableOffset()
			}
			require.Equal(m.t, want, end, "%s: a consumer that read everything is at the end, past markers", level)
			return out
		}
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
	}
}

func (m *modelRun) viewAll(tp eventlog.TopicPartition) []string {
	c, err := m.l.NewConsumer(&eventlog.ConsumerOptions{FetchMaxWait: -1, MaxPollRecords: 1 + m.rng.IntN(7)})
	require.NoError(m.t, err)
	defer c.Close()
	require.NoError(m.t, c.Assign(tp))
	require.NoError(m.t, c.SeekToBeginning())
	var out []string
	for v, err := range c.ViewsToEnd(ctx) {
		if errors.Is(err, eventlog.ErrClosed) {
			break
		}
		require.NoError(m.t, err)
		out = append(out, string(v.Value))
	}
	return out
}
