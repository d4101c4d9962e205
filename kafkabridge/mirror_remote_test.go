package kafkabridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMirrorRemotePartitionsAdded adds a partition to a mirrored remote
// topic between two Runs: the package documentation promises that the next
// Run mirrors it, as MirrorMaker 2 adds the partitions a source topic gains
// to its target: the local topic, which the first Run mirrored into, grows
// to match.
func TestMirrorRemotePartitionsAdded(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 2, 40)

	resp, err := kadm.NewClient(newClient(t, c)).CreatePartitions(testContext(t), 1, "events")
	require.NoError(t, err)
	require.NoError(t, resp.Error())
	// Records for the new partition and the old ones.
	cl := newClient(t, c, kgo.DefaultProduceTopic("events"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var second []eventlog.Record
	for i, r := range sampleRecords("events", 30, time.UnixMilli(9_000)) {
		kr := &kgo.Record{Partition: int32(i % 3), Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		require.NoError(t, cl.ProduceSync(testContext(t), kr).FirstErr())
		r.Partition, r.Offset = kr.Partition, kr.Offset
		second = append(second, r)
	}

	all := append(first, second...)
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	runUntilCommitted(t, m, "events", countByPartition(all))
	got := readLocal(t, l, "events", countByPartition(all))
	cfg, err := l.TopicConfig("events")
	require.NoError(t, err)
	require.Equal(t, 3, cfg.Partitions, "the local topic grows with the remote one")
	for p, recs := range byPartition(all) {
		require.Len(t, got[p], len(recs), "partition %d", p)
		for i, r := range recs {
			assertSameLocal(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}
}

// runUntilCommitted runs m until it has committed, for each partition of
// the local topic, the local offset counts gives it, and stops it; a Run
// that stops by itself first fails the test with its error.
func runUntilCommitted(t *testing.T, m *kafkabridge.Mirror, topic string, counts map[int32]int) {
	t.Helper()
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 1000)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	missing := make(map[int32]bool, len(counts))
	for p := range counts {
		missing[p] = true
	}
	for len(missing) > 0 {
		select {
		case o := <-commits:
			for tp, c := range o {
				if tp.Topic == topic && c.Offset >= int64(counts[tp.Partition]) {
					delete(missing, tp.Partition)
				}
			}
		case err := <-done:
			require.NoError(t, err, "Run stopped before mirroring every record")
			require.Fail(t, "Run stopped before mirroring every record")
		}
	}
	cancel()
	require.NoError(t, <-done)
}
