package eventlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// The power-loss tests run the crash invariants of crash_test.go through
// MemFS instead of a killed process, so that what a crash loses can be
// chosen: every unsynced byte (CrashDropUnsynced), a torn tail
// (CrashKeepPrefix), a zero-filled one (CrashZeroFill), nothing
// (CrashKeepAll: a process crash) or a mix per file and directory
// (CrashRandom). After every crash the log is reopened and must hold every
// acknowledged record byte for byte at dense offsets from 0, hold nothing
// that was never appended, and recover the same way when reopened again.
//
// Unsynced data persisted out of order (CrashReorder) has its own tests in
// powerloss_order_test.go.
//
// EVENTLOG_POWERLOSS_ITERATIONS sets the seeds per crash mode and
// durability (default 12, a few seconds under -race); CI should set 50 or
// more (50 takes about a minute under -race on two cores).

var powerLossModes = []eventlog.CrashMode{
	eventlog.CrashDropUnsynced,
	eventlog.CrashKeepPrefix,
	eventlog.CrashZeroFill,
	eventlog.CrashKeepAll,
	eventlog.CrashRandom,
}

const (
	powerLossDir   = "/data"
	powerLossTopic = "pl"
)

// envInt reads a positive count from the environment, or returns def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "%s", name)
	require.Positive(t, n, "%s", name)
	return n
}

// envIterations is envInt, or short under -short.
func envIterations(t *testing.T, name string, def, short int) int {
	t.Helper()
	if testing.Short() {
		return short
	}
	return envInt(t, name, def)
}

// errPowerLost is what every MemFS call returns once the power switch has
// cut the power: the process that issued it is dead.
var errPowerLost = errors.New("test: power lost")

// powerSwitch is a MemFS fault hook that cuts the power — crashes the MemFS
// — at a chosen operation, or when told to. From then on every operation
// fails, as nothing a dead process does reaches the disk, until the switch
// is armed again.
type powerSwitch struct {
	fsys *eventlog.MemFS
	mode eventlog.CrashMode
	rand *rand.Rand // for Crash; used under mu

	mu        sync.Mutex
	ops       int // operations seen since arm
	crashAt   int // the operation that cuts the power; 0 for none
	dead      bool
	failSyncs int        // percentage of Syncs failed with ErrInjected while the power is on
	syncRand  *rand.Rand // picks them
	failed    int        // Syncs failed so far
}

func newPowerSwitch(fsys *eventlog.MemFS, mode eventlog.CrashMode, seed uint64) *powerSwitch {
	s := &powerSwitch{fsys: fsys, mode: mode, rand: rand.New(rand.NewPCG(seed, 0x9e3779b9)),
		syncRand: rand.New(rand.NewPCG(seed, 0x85ebca6b))}
	fsys.SetFault(s.hook)
	return s
}

func (s *powerSwitch) hook(op eventlog.Op, _ string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead {
		return errPowerLost
	}
	s.ops++
	if s.crashAt > 0 && s.ops >= s.crashAt {
		s.cutLocked()
		return errPowerLost
	}
	if op == eventlog.OpSync && s.failSyncs > 0 && s.syncRand.IntN(100) < s.failSyncs {
		s.failed++
		return eventlog.ErrInjected // a writeback error: MemFS loses the unsynced bytes
	}
	return nil
}

// failedSyncs returns how many Syncs the switch failed so far.
func (s *powerSwitch) failedSyncs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// setMode sets the crash mode of the next power cuts; call it between
// sessions.
func (s *powerSwitch) setMode(mode eventlog.CrashMode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

// setFailSyncs makes percent of the Syncs from now on fail, without
// cutting the power.
func (s *powerSwitch) setFailSyncs(percent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failSyncs = percent
}

// arm restores the power and makes the crashAt-th operation from now cut
// it; 0 means no operation does.
func (s *powerSwitch) arm(crashAt int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead, s.ops, s.crashAt = false, 0, crashAt
}

// cut crashes the MemFS now, unless the power is already off.
func (s *powerSwitch) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dead {
		s.cutLocked()
	}
}

func (s *powerSwitch) cutLocked() {
	s.dead = true
	s.fsys.Crash(eventlog.CrashOptions{Mode: s.mode, Rand: s.rand})
}

func (s *powerSwitch) isDead() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead
}

// isPowerLoss tells whether err is what a call fails with once the power is
// cut: the switch's error, or a handle that predates the crash.
func isPowerLoss(err error) bool {
	return errors.Is(err, errPowerLost) || errors.Is(err, fs.ErrClosed)
}

// history is what the writers of a power-loss run did: every value they
// ever handed to Append, and the records that must survive the next crash.
type history struct {
	mu        sync.Mutex
	attempted map[string]bool
	durable   map[int64]string // offset → value
}

func newHistory() *history {
	return &history{attempted: map[string]bool{}, durable: map[int64]string{}}
}

func (h *history) attempt(records []eventlog.Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range records {
		h.attempted[string(r.Value)] = true
	}
}

// keep records that the next crash must not take away.
func (h *history) keep(base int64, records []eventlog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, r := range records {
		off := base + int64(i)
		if prev, ok := h.durable[off]; ok && prev != string(r.Value) {
			return fmt.Errorf("offset %d acknowledged as %q and as %q", off, prev, r.Value)
		}
		h.durable[off] = string(r.Value)
	}
	return nil
}

// powerLossRun is one simulated machine: a MemFS that loses power again
// and again while a topic is written, and what was written to it.
type powerLossRun struct {
	t          *testing.T
	fsys       *eventlog.MemFS
	sw         *powerSwitch
	rng        *rand.Rand
	opts       *eventlog.Options
	durability eventlog.Durability
	hist       *history
	cuts       map[string]int // where the power was cut, for the log
	failSyncs  int            // percentage of Syncs failed during sessions (not recovery)
}

// expectedError tells whether a call of a session may fail with err: the
// power is cut, or a Sync failed.
func (r *powerLossRun) expectedError(err error) bool {
	return r.sw.isDead() && isPowerLoss(err) || r.failSyncs > 0 && errors.Is(err, eventlog.ErrInjected)
}

func newPowerLossRun(t *testing.T, mode eventlog.CrashMode, durability eventlog.Durability, seed uint64) *powerLossRun {
	fsys := eventlog.NewMemFS()
	// The directory the user hands to Open exists and is durable; what
	// the library creates inside it is the library's to make durable.
	require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
	require.NoError(t, fsys.SyncDir("/"))
	return &powerLossRun{
		t:          t,
		fsys:       fsys,
		sw:         newPowerSwitch(fsys, mode, seed),
		rng:        rand.New(rand.NewPCG(seed, 1)),
		opts:       &eventlog.Options{FS: fsys, SegmentBytes: 8 << 10, IndexIntervalBytes: 256},
		durability: durability,
		hist:       newHistory(),
		cuts:       map[string]int{},
	}
}

// session opens the log, makes sure the topic exists and appends from
// three goroutines until the power is cut: at a random operation, after a
// random number of acknowledgements, or after a clean Close.
func (r *powerLossRun) session(round int) {
	t := r.t
	const writers, batchesPerWriter = 3, 40
	crashAt, crashAfterAcks, closeFirst := 0, int64(0), false
	switch r.rng.IntN(3) {
	case 0:
		crashAt = 1 + r.rng.IntN(2*writers*batchesPerWriter)
	case 1:
		crashAfterAcks = 1 + r.rng.Int64N(writers*batchesPerWriter)
	default:
		closeFirst = r.rng.IntN(2) == 0
		if closeFirst && r.rng.IntN(2) == 0 {
			crashAt = 1 + r.rng.IntN(2*writers*batchesPerWriter+40) // maybe during Close
		}
	}
	r.sw.arm(crashAt)
	r.sw.setFailSyncs(r.failSyncs)
	stage := "after the session"
	defer func() {
		if r.sw.isDead() {
			r.cuts[stage]++
		} else {
			r.cuts["after the session"]++
			r.sw.cut()
		}
	}()

	stage = "during Open"
	l, err := eventlog.Open(powerLossDir, r.opts)
	if err != nil {
		require.True(t, r.sw.isDead() || r.expectedError(err), "Open failed with the power on: %v", err)
		return
	}
	defer func() { _ = eventlog.Abandon(l) }()
	if _, err := l.TopicConfig(powerLossTopic); errors.Is(err, eventlog.ErrTopicNotFound) {
		stage = "during CreateTopic"
		err := l.CreateTopic(powerLossTopic, eventlog.TopicConfig{Durability: r.durability})
		if err != nil {
			require.True(t, r.expectedError(err), "CreateTopic failed with the power on: %v", err)
			return
		}
	}
	p, err := l.Partition(powerLossTopic, 0)
	require.NoError(t, err)

	stage = "during appends"
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		acks int64
	)
	for w := range writers {
		wg.Add(1)
		rng := rand.New(rand.NewPCG(r.rng.Uint64(), uint64(w)))
		go func() {
			defer wg.Done()
			writer := round*writers + w
			for seq := range batchesPerWriter {
				recs := make([]eventlog.Record, 1+rng.IntN(3))
				for i := range recs {
					recs[i] = eventlog.Record{Key: []byte{byte(writer)}, Value: crashValue(writer, seq*10+i, rng.IntN(200))}
				}
				r.hist.attempt(recs)
				base, err := p.Append(ctx, recs, eventlog.AppendOptions{})
				if err != nil {
					if !r.expectedError(err) {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					return
				}
				// A DurabilityOS append survives a process crash only.
				var keepErr error
				if r.durability == eventlog.DurabilityFsync || r.sw.mode == eventlog.CrashKeepAll {
					keepErr = r.hist.keep(base, recs)
				}
				mu.Lock()
				if keepErr != nil {
					errs = append(errs, keepErr)
				}
				acks++
				cut := acks == crashAfterAcks
				mu.Unlock()
				if cut {
					r.sw.cut()
				}
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs, "appends failed with the power on")
	if closeFirst {
		// The power goes after a clean Close, or during it.
		stage = "during Close"
		if err := l.Close(); err != nil {
			require.True(t, r.expectedError(err), "Close failed with the power on: %v", err)
		}
	}
}

// reopen reopens the log after a crash, possibly losing power again
// during recovery first, and checks the invariants. It returns the
// records recovered, which from then on must survive every crash.
// sessionsAndReopens runs n rounds of a session and the reopen after its
// power cut, stopping the test at the first round that failed, which it
// names with seed; it returns the most records a reopen recovered.
func (r *powerLossRun) sessionsAndReopens(seed, n int) (records int) {
	r.t.Helper()
	for round := range n {
		r.session(round)
		recs := r.reopen()
		if r.t.Failed() {
			r.t.Fatalf("seed %d round %d", seed, round)
		}
		records = max(records, len(recs))
	}
	return records
}

func (r *powerLossRun) reopen() []eventlog.Record {
	t := r.t
	r.sw.arm(0) // the power is back
	r.sw.setFailSyncs(0)
	// What recovery does when it is not interrupted, on a copy, counting
	// the operations it takes.
	clone := cloneMemFS(t, r.fsys)
	var ops atomic.Int64
	clone.SetFault(func(eventlog.Op, string) error { ops.Add(1); return nil })
	reference := r.recoverOnce(clone)

	for range r.rng.IntN(3) {
		// Lose power at one of the operations of Open (and Abandon): during
		// recovery, or just after it.
		r.sw.arm(1 + r.rng.IntN(int(ops.Load())+2))
		if l, err := eventlog.Open(powerLossDir, r.opts); err == nil {
			_ = eventlog.Abandon(l)
			r.cuts["right after recovery"]++
		} else {
			require.True(t, r.sw.isDead(), "Open failed with the power on: %v", err)
			r.cuts["during recovery"]++
		}
		r.sw.cut()
	}

	r.sw.arm(0)
	got := r.recoverOnce(r.fsys)
	assert.Equal(t, summarize(reference), summarize(got), "a crash during recovery changed what recovery recovers")

	// Recovery is idempotent and durable: losing power right after it
	// and reopening gives the same records, with nothing left to cut.
	r.sw.cut()
	r.sw.arm(0)
	l, err := eventlog.Open(powerLossDir, r.opts)
	require.NoError(t, err, "reopen after recovery")
	assert.Zero(t, l.Recovery().BytesTruncated, "a second recovery cut more")
	again := r.readTopic(l)
	require.NoError(t, eventlog.Abandon(l))
	require.Equal(t, summarize(got), summarize(again), "a second recovery recovered differently")

	r.hist.mu.Lock()
	defer r.hist.mu.Unlock()
	clear(r.hist.durable) // from now on, what was recovered must stay
	for _, rec := range got {
		r.hist.durable[rec.Offset] = string(rec.Value)
	}
	return got
}

// recoverOnce opens the log on fsys with no faults and checks it against
// the history.
func (r *powerLossRun) recoverOnce(fsys *eventlog.MemFS) []eventlog.Record {
	t := r.t
	t.Helper()
	opts := *r.opts
	opts.FS = fsys
	l, err := eventlog.Open(powerLossDir, &opts)
	require.NoError(t, err, "reopen after power loss")
	defer func() { require.NoError(t, eventlog.Abandon(l)) }()
	recs := r.readTopic(l)

	r.hist.mu.Lock()
	defer r.hist.mu.Unlock()
	seen := make(map[string]int64, len(recs))
	for i, rec := range recs {
		require.Equal(t, int64(i), rec.Offset, "offsets are dense from 0")
		require.True(t, validCrashValue(rec.Value), "offset %d holds bytes nobody wrote: %q", rec.Offset, rec.Value)
		require.True(t, r.hist.attempted[string(rec.Value)], "offset %d holds a record nobody appended: %q", rec.Offset, rec.Value)
		prev, dup := seen[string(rec.Value)]
		require.False(t, dup, "the record at offset %d also appears at %d", rec.Offset, prev)
		seen[string(rec.Value)] = rec.Offset
	}
	for off, value := range r.hist.durable {
		require.Less(t, off, int64(len(recs)), "acknowledged offset %d was lost (%d records recovered)", off, len(recs))
		require.Equal(t, value, string(recs[off].Value), "acknowledged offset %d changed", off)
	}
	return recs
}

// readTopic reads the whole partition; a log without the topic has no
// records.
func (r *powerLossRun) readTopic(l *eventlog.Log) []eventlog.Record {
	t := r.t
	t.Helper()
	p, err := l.Partition(powerLossTopic, 0)
	if errors.Is(err, eventlog.ErrTopicNotFound) {
		return nil
	}
	require.NoError(t, err)
	recs := readAll(t, p, 0)
	require.Equal(t, p.HighWatermark(), int64(len(recs)), "every offset below the high watermark is readable")
	require.Equal(t, p.HighWatermark(), p.LogEndOffset(), "after recovery everything is durable")
	return recs
}

// summarize turns records into comparable lines.
func summarize(recs []eventlog.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = fmt.Sprintf("%d %x %s", r.Offset, r.Key, r.Value)
	}
	return out
}

// cloneMemFS copies the current content of src into a new MemFS, all of it
// durable. Right after a power loss that is exactly what src holds; after a
// process crash (CrashKeepAll), which makes nothing durable, the copy holds
// the same files but would lose less in a later power loss.
func cloneMemFS(t *testing.T, src *eventlog.MemFS) *eventlog.MemFS {
	t.Helper()
	dst := eventlog.NewMemFS()
	var walk func(dir string)
	walk = func(dir string) {
		names, err := src.ReadDir(dir)
		require.NoError(t, err)
		for _, name := range names {
			p := path.Join(dir, name)
			info, err := src.Stat(p)
			require.NoError(t, err)
			if info.IsDir() {
				require.NoError(t, dst.MkdirAll(p, 0o755))
				walk(p)
				continue
			}
			data, err := src.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, dst.WriteFile(p, data, 0o644))
		}
		require.NoError(t, dst.SyncDir(dir))
	}
	walk("/")
	return dst
}

// TestPowerLoss appends from several goroutines, loses power at random
// moments — during appends, segment rolls, topic creation, Close, and
// recovery itself — and checks after every crash that all acknowledged
// records survived byte for byte at dense offsets, that nothing was
// invented, and that recovery is idempotent. Each seed runs a machine
// through several crashes, so recovery also runs on recovered logs.
func TestPowerLoss(t *testing.T) {
	iterations := envIterations(t, "EVENTLOG_POWERLOSS_ITERATIONS", 12, 2)
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		for _, mode := range powerLossModes {
			t.Run(fmt.Sprintf("%v/%v", durability, mode), func(t *testing.T) {
				var records int
				cuts := map[string]int{}
				for seed := range iterations {
					run := newPowerLossRun(t, mode, durability, uint64(seed))
					records = max(records, run.sessionsAndReopens(seed, 3))
					for k, v := range run.cuts {
						cuts[k] += v
					}
				}
				t.Logf("%d seeds, up to %d records recovered; power cuts: %v", iterations, records, cuts)
			})
		}
	}
}

// TestPowerLossDuringCreateTopic cuts the power at each operation of
// CreateTopic in turn, in every crash mode: after reopening, the topic is
// either absent — no half topic is left on disk — or complete, and it is
// there whenever CreateTopic returned before the power went.
func TestPowerLossDuringCreateTopic(t *testing.T) {
	for _, durability := range []eventlog.Durability{eventlog.DurabilityFsync, eventlog.DurabilityOS} {
		cfg := eventlog.TopicConfig{Partitions: 3, Durability: durability}
		newFS := func(t *testing.T) (*eventlog.MemFS, *eventlog.Log) {
			fsys := eventlog.NewMemFS()
			require.NoError(t, fsys.MkdirAll(powerLossDir, 0o755))
			require.NoError(t, fsys.SyncDir("/"))
			l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
			require.NoError(t, err)
			return fsys, l
		}
		fsys, l := newFS(t)
		ops := recordOps(fsys, func() { require.NoError(t, l.CreateTopic("c", cfg)) })
		require.NoError(t, l.Close())

		for k := 1; k <= len(ops)+1; k++ {
			name := "after it returned"
			if k <= len(ops) {
				name = fmt.Sprintf("at %d %v", k, ops[k-1])
			}
			t.Run(fmt.Sprintf("%v/%s", durability, name), func(t *testing.T) {
				for _, mode := range powerLossModes {
					for seed := range uint64(2) {
						fsys, l := newFS(t)
						sw := newPowerSwitch(fsys, mode, seed)
						sw.arm(k)
						err := l.CreateTopic("c", cfg)
						returned := err == nil && !sw.isDead()
						if err != nil {
							require.True(t, sw.isDead() && isPowerLoss(err), "%v", err)
						}
						_ = eventlog.Abandon(l)
						sw.cut()

						var verdict []string
						for reopen := range 2 {
							sw.arm(0)
							l, err := eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
							require.NoError(t, err, "%v: reopen %d", mode, reopen)
							if reopen == 0 {
								verdict = l.Topics()
							} else {
								assert.Equal(t, verdict, l.Topics(), "%v: the verdict changed on the second reopen", mode)
							}
							if returned {
								require.Equal(t, []string{"c"}, l.Topics(), "%v: CreateTopic returned, so the topic is durable", mode)
							}
							if len(l.Topics()) == 0 {
								names, err := fsys.ReadDir(powerLossDir + "/topics")
								require.NoError(t, err)
								assert.NotContains(t, names, "c", "%v: a half topic is left on disk", mode)
							} else {
								requireTopicConfig(t, l, cfg)
							}
							require.NoError(t, eventlog.Abandon(l))
							sw.cut() // and lose power again
						}
						sw.arm(0)
						l, err = eventlog.Open(powerLossDir, &eventlog.Options{FS: fsys})
						require.NoError(t, err)
						if len(l.Topics()) > 0 {
							requireTopic(t, l, cfg)
						}
						require.NoError(t, l.Close())
					}
				}
			})
		}
	}
}

// requireTopicConfig checks that topic "c" is complete without writing to
// it: its configuration, and every partition there and empty.
func requireTopicConfig(t *testing.T, l *eventlog.Log, cfg eventlog.TopicConfig) {
	t.Helper()
	require.Equal(t, []string{"c"}, l.Topics())
	got, err := l.TopicConfig("c")
	require.NoError(t, err)
	assert.Equal(t, cfg.Partitions, got.Partitions)
	assert.Equal(t, cfg.Durability, got.Durability)
	for id := range int32(cfg.Partitions) {
		p := partition(t, l, "c", id)
		assert.Zero(t, p.LogEndOffset())
	}
}

// TestPowerLossAppendOverCutTail: recovery cuts a torn tail longer than
// the appends that follow; those appends overwrite the cut bytes and must
// read back as written, not as the torn bytes a view taken during recovery
// still shows.
func TestPowerLossAppendOverCutTail(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l := openLog(t, powerLossDir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	acked := appendValues(t, partition(t, l, "t", 0), "a", "b", "c")
	require.Len(t, acked, 3)
	require.NoError(t, eventlog.Abandon(l))
	seg := lastLog(t, fsys, powerLossDir+"/topics/t/0")
	data, err := fsys.ReadFile(seg)
	require.NoError(t, err)
	torn := bytes.Repeat([]byte{0xab}, 1000)
	require.NoError(t, fsys.WriteFile(seg, append(data, torn...), 0o644))

	l = openLog(t, powerLossDir, opts)
	require.Equal(t, int64(len(torn)), l.Recovery().BytesTruncated)
	p := partition(t, l, "t", 0)
	for i, v := range []string{"d", "e", "f"} {
		off, err := p.Append(ctx, []eventlog.Record{rec("k", v)}, eventlog.AppendOptions{})
		require.NoError(t, err)
		require.Equal(t, int64(3+i), off)
		got, err := p.Read(off, 1<<20)
		require.NoError(t, err, "read of an append over the cut tail")
		require.Len(t, got, 1)
		assert.Equal(t, v, string(got[0].Value))
	}
	requireValues(t, p, []string{"a", "b", "c", "d", "e", "f"})
}

// TestPowerLossReorderedWriteback: on a real disk, unsynced pages reach it
// in any order, so a power loss can leave a hole in the middle of unsynced
// appends with later ones intact — on a DurabilityOS topic, or past the
// last fsync of any topic. (The test makes the hole by hand; CrashReorder
// makes them at random in powerloss_order_test.go.) Nothing there was
// fsynced, so it is all above the recovery point: Open cuts at the hole by
// itself, without Options.Repair, keeps every record before it and none
// after.
func TestPowerLossReorderedWriteback(t *testing.T) {
	fsys := eventlog.NewMemFS()
	opts := &eventlog.Options{FS: fsys}
	l := openLog(t, powerLossDir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	want := values("v", 30)
	appendValues(t, partition(t, l, "t", 0), want...)
	require.NoError(t, eventlog.Abandon(l))

	seg := lastLog(t, fsys, powerLossDir+"/topics/t/0")
	data, err := fsys.ReadFile(seg)
	require.NoError(t, err)
	hole := len(data) / 2
	clear(data[hole : hole+300]) // a page that never reached the disk
	require.NoError(t, fsys.WriteFile(seg, data, 0o644))

	l = openLog(t, powerLossDir, opts)
	rs := l.Recovery()
	assert.Empty(t, rs.Repaired)
	cut := int64(len(data)) - rs.BytesTruncated
	assert.LessOrEqual(t, cut, int64(hole), "cut at the hole or before")
	got := readAll(t, partition(t, l, "t", 0), 0)
	require.NotEmpty(t, got)
	require.Less(t, len(got), len(want), "nothing after the hole")
	requireValues(t, partition(t, l, "t", 0), want[:len(got)])
	kept, err := fsys.ReadFile(seg)
	require.NoError(t, err)
	assert.Equal(t, data[:cut], kept, "every whole batch before the hole is kept")
}

// opsSeen returns how many operations the switch saw since it was armed.
func (s *powerSwitch) opsSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ops
}
