package eventlogprom_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
	eventlogprom "github.com/eventlog/eventlog/metrics/prometheus"
)

// BenchmarkCollect measures a scrape's cost on the process for a log of
// 100 partitions (one topic, a few appends each) and 10 consumer groups
// with a committed offset on every partition: "collect" is the
// Collector's own work (a Stats snapshot turned into constant metrics),
// "gather" adds what the registry does with them (checks, sorting, the
// protobuf form the handler encodes). It reports the series collected.
func BenchmarkCollect(b *testing.B) {
	const partitions, groups = 100, 10
	l, err := eventlog.Open(b.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
	require.NoError(b, err)
	defer l.Close()
	require.NoError(b, l.CreateTopic("t", eventlog.TopicConfig{Partitions: partitions}))
	offsets := map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{}
	for id := range int32(partitions) {
		p, err := l.Partition("t", id)
		require.NoError(b, err)
		for range 3 {
			_, err := p.Append(ctx, []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}, eventlog.AppendOptions{})
			require.NoError(b, err)
		}
		offsets[eventlog.TopicPartition{Topic: "t", Partition: id}] = eventlog.OffsetAndMetadata{Offset: 1}
	}
	for g := range groups {
		c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: string(rune('a' + g))})
		require.NoError(b, err)
		require.NoError(b, c.CommitOffsets(ctx, offsets))
		require.NoError(b, c.Close())
	}
	col := eventlogprom.NewCollector(l, nil)

	b.Run("collect", func(b *testing.B) {
		n := 0
		for b.Loop() {
			ch := make(chan prometheus.Metric, 4096)
			col.Collect(ch)
			n = len(ch)
		}
		b.ReportMetric(float64(n), "series")
	})
	b.Run("gather", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		require.NoError(b, reg.Register(col))
		for b.Loop() {
			if _, err := reg.Gather(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
