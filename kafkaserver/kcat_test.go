package kafkaserver_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// librdkafka, the C client under kcat, confluent-kafka-go, -python and
// -dotnet, against the listener through the kcat command (.ci/run
// installs it): produce with idempotence and every codec it has, consume,
// read committed, and a consumer group that commits.

// kcat runs the kcat command against the fixture with stdin and returns
// its standard output.
func (f *fixture) kcat(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil && os.Getenv("EVENTLOG_REQUIRE_KCAT") == "" {
		t.Skip("kcat is not installed (apt-get install kcat); .ci/run installs it")
	}
	require.NoError(t, err, "EVENTLOG_REQUIRE_KCAT is set")
	cmd := exec.CommandContext(ctx, path, append([]string{"-b", f.addr, "-X", "socket.timeout.ms=10000"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "kcat %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

func TestKcat(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 3}})
	ctx := testContext(t)

	// Produce: keyed lines, idempotent, acks all, one codec per run.
	var lines []string
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		var in strings.Builder
		for i := range 20 {
			line := fmt.Sprintf("k%d:%s-%d", i%7, codec, i)
			lines = append(lines, line)
			in.WriteString(line + "\n")
		}
		f.kcat(t, ctx, in.String(), "-P", "-t", "t", "-K:", "-z", codec, "-X", "enable.idempotence=true", "-X", "acks=all")
	}
	var stored []string
	for id := range int32(3) {
		p, err := f.log.Partition("t", id)
		require.NoError(t, err)
		recs, err := p.Read(0, 1<<20)
		require.NoError(t, err)
		for _, r := range recs {
			stored = append(stored, string(r.Key)+":"+string(r.Value))
		}
	}
	sort.Strings(lines)
	sort.Strings(stored)
	assert.Equal(t, lines, stored, "every line stored once")

	// Consume what the library wrote and what kcat did, to the end.
	p0, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	_, err = p0.Append(ctx, []eventlog.Record{{Key: []byte("lib"), Value: []byte("from the library")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	out := f.kcat(t, ctx, "", "-C", "-t", "t", "-o", "beginning", "-e", "-q", "-f", `%k:%s\n`)
	consumed := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	sort.Strings(consumed)
	want := append(append([]string(nil), lines...), "lib:from the library")
	sort.Strings(want)
	assert.Equal(t, want, consumed)

	// read_committed: an open transaction of the host process holds the
	// consumer at its first record; an aborted one is never read.
	txp, err := f.log.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer txp.Close()
	txnSend := func(value string) {
		_, err := txp.Send(ctx, eventlog.Record{Topic: "t", Partition: 1, Key: []byte("tx"), Value: []byte(value)})
		require.NoError(t, err)
	}
	require.NoError(t, txp.BeginTransaction())
	txnSend("aborted")
	require.NoError(t, txp.AbortTransaction(ctx))
	require.NoError(t, txp.BeginTransaction())
	txnSend("committed")
	require.NoError(t, txp.CommitTransaction(ctx))
	require.NoError(t, txp.BeginTransaction())
	txnSend("open")
	readTx := func(level string) string {
		out := f.kcat(t, ctx, "", "-C", "-t", "t", "-p", "1", "-o", "beginning", "-e", "-q", "-f", `%k:%s\n`, "-X", "isolation.level="+level)
		var tx []string
		for _, line := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(line, "tx:"); ok {
				tx = append(tx, v)
			}
		}
		return strings.Join(tx, ",")
	}
	assert.Equal(t, "committed", readTx("read_committed"))
	assert.Equal(t, "aborted,committed,open", readTx("read_uncommitted"))
	require.NoError(t, txp.CommitTransaction(ctx))
	assert.Equal(t, "committed,open", readTx("read_committed"))

	// A consumer group: librdkafka joins, is assigned every partition,
	// reads to the end and commits on its way out.
	out = f.kcat(t, ctx, "", "-G", "g", "t", "-e", "-q", "-f", `%p %o\n`, "-X", "auto.offset.reset=earliest")
	assert.NotEmpty(t, out)
	tps := []eventlog.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}}
	committed, err := f.log.CommittedOffsets("g", tps)
	require.NoError(t, err)
	for _, tp := range tps {
		p, err := f.log.Partition(tp.Topic, tp.Partition)
		require.NoError(t, err)
		assert.Equal(t, p.HighWatermark(), committed[tp].Offset, "partition %d committed at its end", tp.Partition)
	}
}
