package kafkabridge_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	benchRecords    = 500_000
	benchPartitions = 4
)

// BenchmarkForwardThroughput measures, in each iteration, the same records
// sent to kfake twice, back to back: by kgo straight from memory (the
// baseline: "direct-rec/s"), and by a Forward reading them from a local
// topic ("forward-rec/s"), each into a fresh remote topic, with the same
// producer settings (idempotent, acks=all, no linger, no compression, kgo's default batch
// size and a buffer of DefaultMaxUncommitted records, records keeping their
// partition). The Forward's time runs from Run
// to its commit of the last record. "ratio" is forward over direct for the
// iteration. 500,000 records of a 16-byte key and a 100-byte random value,
// over 4 partitions, uncompressed. Run it with a fixed -benchtime (3x) and -count.
func BenchmarkForwardThroughput(b *testing.B) {
	c := newCluster(b, benchPartitions)
	admin := kadm.NewClient(newClient(b, c))
	// A plain Log, as a service opens it: no poisoned views.
	l, err := eventlog.Open(b.TempDir(), nil)
	require.NoError(b, err)
	b.Cleanup(func() { l.Close() })
	require.NoError(b, l.CreateTopic("bench", eventlog.TopicConfig{Partitions: benchPartitions}))
	recs := make([]eventlog.Record, benchRecords)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range recs {
		p := int32(i % benchPartitions)
		value := make([]byte, 100)
		for j := range value {
			value[j] = byte(rng.UintN(256))
		}
		recs[i] = eventlog.Record{Topic: "bench", Partition: p, Key: []byte(fmt.Sprintf("key-%012d", i)), Value: value}
	}
	// Batches of the default size, 16 KiB (about 130 records), as a
	// service's producer writes them.
	p, err := l.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(b, err)
	ctx := context.Background()
	for _, r := range recs {
		p.SendAsync(ctx, r, nil)
	}
	require.NoError(b, p.Flush(ctx))
	require.NoError(b, p.Close())

	var direct, forward, directCPU, forwardCPU time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for _, name := range []string{fmt.Sprint("direct-", i), fmt.Sprint("forward-", i)} {
			_, err := admin.CreateTopic(ctx, benchPartitions, 1, nil, name)
			require.NoError(b, err)
		}
		krs := make([]*kgo.Record, len(recs))
		for j, r := range recs {
			krs[j] = &kgo.Record{Topic: fmt.Sprint("direct-", i), Partition: r.Partition, Key: r.Key, Value: r.Value}
		}
		b.StartTimer()
		cpu := processCPU()
		direct += benchDirect(b, c.ListenAddrs(), krs)
		directCPU += processCPU() - cpu
		cpu = processCPU()
		forward += benchForward(b, l, c.ListenAddrs(), i)
		forwardCPU += processCPU() - cpu
	}
	b.ReportMetric(float64(b.N*benchRecords)/direct.Seconds(), "direct-rec/s")
	b.ReportMetric(float64(b.N*benchRecords)/forward.Seconds(), "forward-rec/s")
	b.ReportMetric(direct.Seconds()/forward.Seconds(), "ratio")
	b.ReportMetric(float64(directCPU.Microseconds())/float64(b.N*benchRecords), "direct-cpu-µs/rec")
	b.ReportMetric(float64(forwardCPU.Microseconds())/float64(b.N*benchRecords), "forward-cpu-µs/rec")
}

func benchDirect(b *testing.B, brokers []string, krs []*kgo.Record) time.Duration {
	start := time.Now()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(kafkabridge.DefaultMaxUncommitted), kgo.ProducerLinger(0),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // the Forward's default; kgo's own is snappy
	require.NoError(b, err)
	defer cl.Close()
	ctx := context.Background()
	failed := make(chan error, 1)
	for _, kr := range krs {
		cl.Produce(ctx, kr, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case failed <- err:
				default:
				}
			}
		})
	}
	require.NoError(b, cl.Flush(ctx))
	select {
	case err := <-failed:
		b.Fatal(err)
	default:
	}
	return time.Since(start)
}

func benchForward(b *testing.B, l *eventlog.Log, brokers []string, i int) time.Duration {
	start := time.Now()
	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
		Brokers:     brokers,
		Topics:      []string{"bench"},
		RemoteTopic: func(string) string { return fmt.Sprint("forward-", i) },
		GroupID:     fmt.Sprint("bench-", i),
	})
	require.NoError(b, err)
	done := make(chan time.Duration, 1)
	committed := make(map[int32]int64)
	kafkabridge.SetForwardCommitHook(f, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		total := int64(0)
		for tp, om := range o {
			committed[tp.Partition] = om.Offset
		}
		for _, n := range committed {
			total += n
		}
		if total == benchRecords {
			done <- time.Since(start)
		}
	})
	stop := runBridge(b, f.Run)
	took := <-done
	b.StopTimer()
	require.NoError(b, stop())
	b.StartTimer()
	return took
}
