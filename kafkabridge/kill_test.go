package kafkabridge_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The kill tests run a bridge in a child process — this test binary,
// re-executed to run TestKillChild — and kill it with SIGKILL at moments a
// seeded generator picks: when the cluster receives its Nth produce or
// fetch request (before handling it, so the request is in flight: the
// batch may land without its acknowledgement reaching the dead child), or
// right after its Nth commit. Nothing is flushed or closed. The next child
// resumes from what the last one left in the Log.
//
// KAFKABRIDGE_KILLS sets the number of kills per test (default 8);
// KAFKABRIDGE_SEED the seed (default 1).
const (
	childModeEnv    = "KAFKABRIDGE_CHILD"
	childDirEnv     = "KAFKABRIDGE_CHILD_DIR"
	childBrokersEnv = "KAFKABRIDGE_CHILD_BROKERS"
	childTargetEnv  = "KAFKABRIDGE_CHILD_TARGET"

	killTopic      = "outbox"
	killPartitions = 3
	// killMaxUncommitted is the children's Forward MaxUncommitted: the
	// bound on records sent again after a kill.
	killMaxUncommitted = 64
)

func killCount(t *testing.T) int {
	if s := os.Getenv("KAFKABRIDGE_KILLS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return 8
}

func killSeed(t *testing.T) uint64 {
	if s := os.Getenv("KAFKABRIDGE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
		return n
	}
	return 1
}

// forwardKillOptions are the options of the Forwards of the kill test: small
// batches and a small MaxUncommitted, so that a kill finds many records in
// flight and commits are frequent.
func forwardKillOptions(brokers []string) *kafkabridge.ForwardOptions {
	return &kafkabridge.ForwardOptions{
		Brokers:        brokers,
		Topics:         []string{killTopic},
		MaxUncommitted: killMaxUncommitted,
		CommitInterval: 5 * time.Millisecond,
		Linger:         time.Millisecond,
		BatchBytes:     1024,
	}
}

func mirrorKillOptions(brokers []string) *kafkabridge.MirrorOptions {
	return &kafkabridge.MirrorOptions{
		Brokers:                brokers,
		Topics:                 []string{killTopic},
		MaxPartitionFetchBytes: 1024,
	}
}

// TestKillChild is the child process of the kill tests; it does nothing in
// a normal run.
func TestKillChild(t *testing.T) {
	mode := os.Getenv(childModeEnv)
	if mode == "" {
		t.Skip("run by TestForwardKill and TestMirrorKill")
	}
	l, err := eventlog.Open(os.Getenv(childDirEnv), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	brokers := strings.Split(os.Getenv(childBrokersEnv), ",")
	target, err := strconv.ParseInt(os.Getenv(childTargetEnv), 10, 64)
	require.NoError(t, err)
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	say := func(s string) { out.WriteString(s + "\n"); out.Flush() }

	switch mode {
	case "forward":
		go appendUntil(ctx, l, target)
		f, err := kafkabridge.NewForward(l, forwardKillOptions(brokers))
		require.NoError(t, err)
		committed := make(map[int32]int64)
		kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
			say("commit")
			for tp, om := range o {
				committed[tp.Partition] = om.Offset
			}
			if allAt(committed, target) {
				say("done")
			}
		})
		err = f.Run(ctx)
		t.Fatalf("Forward.Run returned %v", err)
	case "mirror":
		m, err := kafkabridge.NewMirror(l, mirrorKillOptions(brokers))
		require.NoError(t, err)
		remote := make(map[int32]int64)
		kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
			say("commit")
			for tp, om := range o {
				_, next, _, err := kafkabridge.ParseProgressMetadata(om.Metadata)
				require.NoError(t, err)
				remote[tp.Partition] = next
			}
			if allAt(remote, target) {
				say("done")
			}
		})
		err = m.Run(ctx)
		t.Fatalf("Mirror.Run returned %v", err)
	}
}

func allAt(m map[int32]int64, target int64) bool {
	for p := range int32(killPartitions) {
		if m[p] < target {
			return false
		}
	}
	return true
}

// appendUntil appends records to every partition of the kill topic until
// each holds target records, in batches of 1 to 20. Each record's value is
// its own offset, so the cluster's copy says which local record it is.
func appendUntil(ctx context.Context, l *eventlog.Log, target int64) {
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 7))
	for {
		more := false
		for p := range int32(killPartitions) {
			part, err := l.Partition(killTopic, p)
			if err != nil {
				panic(err)
			}
			next := part.LogEndOffset()
			n := min(int64(1+rng.IntN(20)), target-next)
			if n <= 0 {
				continue
			}
			more = true
			batch := make([]eventlog.Record, n)
			for i := range batch {
				off := next + int64(i)
				batch[i] = eventlog.Record{Key: []byte(fmt.Sprint("k", off%13)), Value: []byte(strconv.FormatInt(off, 10))}
			}
			if _, err := part.Append(ctx, batch, eventlog.AppendOptions{}); err != nil {
				panic(err)
			}
		}
		if !more {
			return
		}
	}
}

// child is a running child process and the lines it prints.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, mode, dir string, c *kfake.Cluster, target int64) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		childModeEnv+"="+mode,
		childDirEnv+"="+dir,
		childBrokersEnv+"="+strings.Join(c.ListenAddrs(), ","),
		childTargetEnv+"="+strconv.FormatInt(target, 10),
	)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ch := &child{cmd: cmd, lines: make(chan string, 1024)}
	go func() {
		defer close(ch.lines)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			ch.lines <- s.Text()
		}
	}()
	return ch
}

// runAndKill starts a child and kills it with SIGKILL when the cluster
// receives its Nth request of kind key, after its Nth commit, or once it
// reports it is done, whichever comes first. rng chooses N and the trigger.
func runAndKill(t *testing.T, rng *rand.Rand, c *kfake.Cluster, key int16, maxN int, mode, dir string, target int64) string {
	ch := startChild(t, mode, dir, c, target)
	n := 1 + rng.IntN(maxN)
	onRequest := rng.IntN(3) != 0
	dropRequest := rng.IntN(2) == 0
	killed := make(chan string, 1)
	kill := func(why string) {
		select {
		case killed <- why:
			_ = ch.cmd.Process.Kill()
		default:
		}
	}
	if onRequest {
		seen := 0
		c.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
			seen++
			if seen < n {
				return nil, nil, false
			}
			c.DropControl()
			kill(fmt.Sprintf("at %s request %d (dropped: %v)", kmsg.NameForKey(key), n, dropRequest))
			if dropRequest {
				return nil, errors.New("the client was killed"), true // close the connection unanswered
			}
			return nil, nil, false // handled, but the answer goes nowhere
		})
	}
	commits := 0
	for line := range ch.lines {
		switch {
		case line == "done":
			kill("when done")
		case line == "commit":
			commits++
			if !onRequest && commits == n {
				kill(fmt.Sprintf("after commit %d", n))
			}
		}
	}
	kill("stdout closed") // the child died by itself: Wait reports why
	err := ch.cmd.Wait()
	why := <-killed
	if onRequest {
		c.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) { c.DropControl(); return nil, nil, false })
	}
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "child ended with %v, %s", err, why)
	require.Equal(t, -1, exit.ExitCode(), "child was killed by a signal, %s", why)
	return why
}

// readRemoteAll reads every record of the kill topic on the cluster.
func readRemoteAll(t *testing.T, c *kfake.Cluster) map[int32][]*kgo.Record {
	ends := remoteEnds(t, c, killTopic, killPartitions)
	total := 0
	for _, e := range ends {
		total += int(e)
	}
	if total == 0 {
		return map[int32][]*kgo.Record{}
	}
	return consumeRemote(t, c, killTopic, killPartitions, total)
}

// valueOffset parses the offset a record's value names.
func valueOffset(t *testing.T, v []byte) int64 {
	n, err := strconv.ParseInt(string(v), 10, 64)
	require.NoError(t, err, "value %q", v)
	return n
}

// TestForwardKill kills the Forward of a growing outbox at random points
// and checks after each kill that everything committed is on the cluster,
// then, after a last clean run, that the cluster holds every local record
// in order per partition, and that each run of duplicates starts at the
// committed offset of a kill and is no longer than MaxUncommitted.
func TestForwardKill(t *testing.T) {
	kills := killCount(t)
	rng := rand.New(rand.NewPCG(killSeed(t), 11))
	c := newCluster(t, killPartitions, killTopic)
	dir := t.TempDir()
	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic(killTopic, eventlog.TopicConfig{Partitions: killPartitions}))
	require.NoError(t, l.Close())

	commitPoints := make(map[int32][]int64) // committed offsets seen after kills
	lastCommitted := make(map[int32]int64)
	var target int64
	for k := range kills {
		target += 100 + int64(rng.IntN(200))
		why := runAndKill(t, rng, c, int16(kmsg.Produce), 25, "forward", dir, target)

		l, err := eventlog.Open(dir, nil)
		require.NoError(t, err)
		offsets, err := l.GroupOffsets(kafkabridge.DefaultForwardGroupID)
		require.NoError(t, err)
		require.NoError(t, l.Close())
		remote := readRemoteAll(t, c)
		for _, o := range offsets {
			p := o.Partition
			require.GreaterOrEqual(t, o.Committed, lastCommitted[p], "committed offsets never go back")
			lastCommitted[p] = o.Committed
			commitPoints[p] = append(commitPoints[p], o.Committed)
			present := make(map[int64]bool)
			for _, r := range remote[p] {
				present[valueOffset(t, r.Value)] = true
			}
			for off := range o.Committed {
				require.True(t, present[off], "kill %d (%s): partition %d committed at %d but local offset %d is not on the cluster", k, why, p, o.Committed, off)
			}
		}
		t.Logf("kill %d %s: committed %v, cluster holds %d/%d/%d records", k, why, lastCommitted, len(remote[0]), len(remote[1]), len(remote[2]))
	}

	// A last, clean run forwards the rest.
	l, err = eventlog.Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	hwm := make(map[int32]int64)
	for p := range int32(killPartitions) {
		part, err := l.Partition(killTopic, p)
		require.NoError(t, err)
		hwm[p] = part.HighWatermark()
	}
	f, err := kafkabridge.NewForward(l, forwardKillOptions(c.ListenAddrs()))
	require.NoError(t, err)
	done := make(chan struct{})
	committed := make(map[int32]int64)
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		for tp, om := range o {
			committed[tp.Partition] = om.Offset
		}
		if committed[0] == hwm[0] && committed[1] == hwm[1] && committed[2] == hwm[2] {
			close(done)
		}
	})
	stop := runBridge(t, f.Run)
	select {
	case <-done:
	case <-testContext(t).Done():
		t.Fatalf("the last run did not commit everything: %v of %v", committed, hwm)
	}
	require.NoError(t, stop())

	remote := readRemoteAll(t, c)
	totalDuplicates := 0
	for p := range int32(killPartitions) {
		var seq []int64
		for _, r := range remote[p] {
			seq = append(seq, valueOffset(t, r.Value))
		}
		// Every local record, in order, first occurrences only.
		seen := make(map[int64]bool)
		var firsts []int64
		for _, off := range seq {
			if !seen[off] {
				seen[off] = true
				firsts = append(firsts, off)
			}
		}
		require.Len(t, firsts, int(hwm[p]), "partition %d: every local record on the cluster", p)
		for i, off := range firsts {
			require.Equal(t, int64(i), off, "partition %d: first occurrences in local order", p)
		}
		// Duplicates come as re-sent runs, each starting at a committed
		// offset and no longer than what may be uncommitted.
		for i := 1; i < len(seq); i++ {
			if seq[i] == seq[i-1]+1 {
				continue
			}
			require.Less(t, seq[i], seq[i-1]+1, "partition %d position %d: a gap, not a rewind", p, i)
			rewind := int(seq[i-1] + 1 - seq[i])
			assert.Contains(t, commitPoints[p], seq[i], "partition %d: a re-send starts at a committed offset", p)
			assert.LessOrEqual(t, rewind, killMaxUncommitted, "partition %d: re-sent records", p)
			totalDuplicates += rewind
		}
		assert.Len(t, seq, len(firsts)+countRewinds(seq), "partition %d", p)
	}
	t.Logf("%d kills, %d duplicates in all (bound: %d per kill)", kills, totalDuplicates, killMaxUncommitted)
	assert.LessOrEqual(t, totalDuplicates, kills*killMaxUncommitted)
}

// countRewinds counts the records of seq that repeat an earlier one, in a
// sequence made of ascending runs.
func countRewinds(seq []int64) int {
	n := 0
	for i := 1; i < len(seq); i++ {
		if seq[i] <= seq[i-1] {
			n += int(seq[i-1] + 1 - seq[i])
		}
	}
	return n
}

// TestMirrorKill kills the Mirror of a growing remote topic at random points
// and checks after each kill that the local log holds every record its
// committed progress names, in order and without duplicates, then after a
// last clean run that it holds every remote record exactly once.
func TestMirrorKill(t *testing.T) {
	kills := killCount(t)
	rng := rand.New(rand.NewPCG(killSeed(t), 13))
	c := newCluster(t, killPartitions, killTopic)
	producer := newClient(t, c, kgo.DefaultProduceTopic(killTopic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	dir := t.TempDir()

	var target int64
	for k := range kills {
		// The test is the topic's only producer: a record's value is its
		// remote offset.
		more := 100 + int64(rng.IntN(200))
		var recs []*kgo.Record
		for p := range int32(killPartitions) {
			for i := range more {
				recs = append(recs, &kgo.Record{Partition: p, Key: []byte("k"), Value: []byte(strconv.FormatInt(target+i, 10))})
			}
		}
		require.NoError(t, producer.ProduceSync(testContext(t), recs...).FirstErr())
		target += more

		why := runAndKill(t, rng, c, int16(kmsg.Fetch), 6, "mirror", dir, target)
		l, err := eventlog.Open(dir, nil)
		require.NoError(t, err)
		offsets, err := l.GroupOffsets(kafkabridge.DefaultMirrorGroupID)
		require.NoError(t, err)
		for _, o := range offsets {
			_, next, localNext, err := kafkabridge.ParseProgressMetadata(o.Metadata)
			require.NoError(t, err)
			require.Equal(t, o.Committed, localNext)
			local := readPartitionValues(t, l, o.Partition)
			require.GreaterOrEqual(t, int64(len(local)), o.Committed)
			for i, v := range local {
				require.Equal(t, int64(i), v, "kill %d (%s): partition %d local offset %d: remote records in order, none twice", k, why, o.Partition, i)
			}
			require.Equal(t, next, o.Committed, "kill %d: the committed local and remote offsets name the same record", k)
		}
		require.NoError(t, l.Close())
		progress := make([]string, len(offsets))
		for i, o := range offsets {
			progress[i] = fmt.Sprintf("%d:%d", o.Partition, o.Committed)
		}
		t.Logf("kill %d %s: %d remote records per partition, progress %v", k, why, target, progress)
	}

	l, err := eventlog.Open(dir, nil)
	require.NoError(t, err)
	defer l.Close()
	m, err := kafkabridge.NewMirror(l, mirrorKillOptions(c.ListenAddrs()))
	require.NoError(t, err)
	counts := make(map[int32]int)
	for p := range int32(killPartitions) {
		counts[p] = int(target)
	}
	stop := runBridge(t, m.Run)
	readLocal(t, l, killTopic, counts)
	require.NoError(t, stop())
	for p := range int32(killPartitions) {
		local := readPartitionValues(t, l, p)
		require.Len(t, local, int(target), "partition %d: every remote record, once", p)
		for i, v := range local {
			require.Equal(t, int64(i), v, "partition %d", p)
		}
	}
}

// readPartitionValues returns the values of a local partition of the kill
// topic, parsed as offsets.
func readPartitionValues(t *testing.T, l *eventlog.Log, p int32) []int64 {
	part, err := l.Partition(killTopic, p)
	require.NoError(t, err)
	var out []int64
	for off := part.LogStartOffset(); off < part.HighWatermark(); {
		recs, err := part.Read(off, 1<<20)
		require.NoError(t, err)
		for _, r := range recs {
			out = append(out, valueOffset(t, r.Value))
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return slices.Clip(out)
}
