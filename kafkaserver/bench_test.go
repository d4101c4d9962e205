package kafkaserver_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Benchmarks of kgo against the listener and, in the same run, against
// franz-go's kfake cluster (one broker, in memory), with the same records.
// Sub-benchmarks alternate, so with -count the two are interleaved:
//
//	go test -run '^$' -bench 'Kgo' -count 6 ./kafkaserver
//
// The machine's other load lands on both alike.

const (
	benchTopic      = "bench"
	benchPartitions = 4
	benchRecords    = 100_000
	benchValueSize  = 100
)

// benchRecordSet is the records both backends get.
func benchRecordSet() []*kgo.Record {
	out := make([]*kgo.Record, benchRecords)
	for i := range out {
		v := make([]byte, benchValueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		out[i] = &kgo.Record{Topic: benchTopic, Key: []byte(fmt.Sprintf("key-%06d", i)), Value: v}
	}
	return out
}

// backend is a broker to benchmark: its address, and how to stop it.
type backend struct {
	name  string
	start func(b *testing.B) (addr string, stop func())
}

func backends() []backend {
	return []backend{
		{"eventlog", func(b *testing.B) (string, func()) {
			l, err := eventlog.Open(b.TempDir(), &eventlog.Options{Durability: eventlog.DurabilityOS})
			require.NoError(b, err)
			require.NoError(b, l.CreateTopic(benchTopic, eventlog.TopicConfig{Partitions: benchPartitions}))
			srv, err := kafkaserver.New(l, nil)
			require.NoError(b, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(b, err)
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			return ln.Addr().String(), func() {
				require.NoError(b, srv.Close())
				<-served
				require.NoError(b, l.Close())
			}
		}},
		{"kfake", func(b *testing.B) (string, func()) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(benchPartitions, benchTopic))
			require.NoError(b, err)
			return c.ListenAddrs()[0], c.Close
		}},
	}
}

// produceAll produces records with acks=1 and waits for all of them.
func produceAll(b *testing.B, cl *kgo.Client, records []*kgo.Record) {
	ctx := context.Background()
	errs := make(chan error, 1)
	for _, r := range records {
		r.Partition, r.Offset = 0, 0
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	require.NoError(b, cl.Flush(ctx))
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func producer(b *testing.B, addr string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(benchRecords))
	require.NoError(b, err)
	return cl
}

// loaded starts be with records produced into it.
func loaded(b *testing.B, be backend, records []*kgo.Record) (string, func()) {
	addr, stop := be.start(b)
	prod := producer(b, addr)
	produceAll(b, prod, records)
	prod.Close()
	return addr, stop
}

// BenchmarkKgoConsume reads benchRecords records with a fresh kgo
// consumer per iteration.
func BenchmarkKgoConsume(b *testing.B) {
	records := benchRecordSet()
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			addr, stop := loaded(b, be, records)
			defer stop()
			b.SetBytes(int64(benchRecords * benchValueSize))
			b.ResetTimer()
			for range b.N {
				// A short max wait: the fetch kgo has in flight when the
				// records run out must not hold up its Close.
				cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(benchTopic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(20*time.Millisecond))
				require.NoError(b, err)
				for n := 0; n < benchRecords; {
					fs := cl.PollFetches(context.Background())
					if err := fs.Err(); err != nil {
						b.Fatal(err)
					}
					n += fs.NumRecords()
				}
				cl.Close()
			}
		})
	}
}

// BenchmarkKgoProduceAcks1 produces benchRecords records with acks=1 per
// iteration.
func BenchmarkKgoProduceAcks1(b *testing.B) {
	records := benchRecordSet()
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			addr, stop := be.start(b)
			defer stop()
			prod := producer(b, addr)
			defer prod.Close()
			produceAll(b, prod, records[:1000]) // connect and learn metadata
			b.SetBytes(int64(benchRecords * benchValueSize))
			b.ResetTimer()
			for range b.N {
				produceAll(b, prod, records)
			}
		})
	}
}

// BenchmarkKgoFetchRequests reads every batch of the topic per iteration
// with kgo's raw request API — Fetch requests and responses, decoded by
// kmsg, without parsing records — so that the broker's share of a
// consume, which record decoding hides in BenchmarkKgoConsume, shows.
func BenchmarkKgoFetchRequests(b *testing.B) {
	records := benchRecordSet()
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			addr, stop := loaded(b, be, records)
			defer stop()
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
			require.NoError(b, err)
			defer cl.Close()
			ctx := context.Background()
			// kfake serves Fetch v13+, which names topics by ID.
			md := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(benchTopic)
			md.Topics = append(md.Topics, mt)
			mdResp, err := md.RequestWith(ctx, cl)
			require.NoError(b, err)
			topicID := mdResp.Topics[0].TopicID
			b.SetBytes(int64(benchRecords * benchValueSize))
			b.ResetTimer()
			for range b.N {
				offsets := make([]int64, benchPartitions)
				for done := false; !done; {
					req := kmsg.NewPtrFetchRequest()
					req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, 50<<20, 1, 0
					rt := kmsg.NewFetchRequestTopic()
					rt.Topic, rt.TopicID = benchTopic, topicID
					for id := range int32(benchPartitions) {
						rp := kmsg.NewFetchRequestTopicPartition()
						rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = id, offsets[id], 1<<20, -1
						rt.Partitions = append(rt.Partitions, rp)
					}
					req.Topics = []kmsg.FetchRequestTopic{rt}
					resp, err := req.RequestWith(ctx, cl)
					require.NoError(b, err)
					done = true
					for _, p := range resp.Topics[0].Partitions {
						require.Zero(b, p.ErrorCode)
						offsets[p.Partition] = nextOffset(p.RecordBatches, offsets[p.Partition])
						done = done && offsets[p.Partition] >= p.HighWatermark
					}
				}
			}
		})
	}
}

// nextOffset returns the offset after the last batch of b, or from when b
// is empty.
func nextOffset(b []byte, from int64) int64 {
	for len(b) >= 27 {
		base := int64(binary.BigEndian.Uint64(b))
		length := int(binary.BigEndian.Uint32(b[8:]))
		from = base + int64(binary.BigEndian.Uint32(b[23:])) + 1
		b = b[min(12+length, len(b)):]
	}
	return from
}
