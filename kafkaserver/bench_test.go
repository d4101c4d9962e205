package kafkaserver_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
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
// franz-go's kfake cluster (one broker, in memory), with the same records
// in the same batches. Every iteration runs against each broker in turn
// (see compare), so each run of a benchmark is a round with a
// listener/kfake ratio of its own; BENCHMARKS.md has the commands (a
// prebuilt binary under real-time priority, several rounds, medians of the
// per-round ratios).

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

// backend is a broker to benchmark. start starts it in this process, with
// dir for its files, and returns its address and what stops it; the
// benchmarks run it in a process of its own (see spawn).
type backend struct {
	name  string
	start func(dir string) (addr string, stop func() error, err error)
}

// backends are the listener and kfake.
func backends() []backend {
	return []backend{listener("eventlog", nil), kfakeBackend()}
}

// fetchBackends are backends and, last, the listener checking the CRC of
// every batch it serves.
func fetchBackends() []backend {
	return append(backends(), listener("eventlog-checkcrcs", &kafkaserver.Options{CheckFetchCRCs: true}))
}

// listener is a Log served by a Server with opts.
func listener(name string, opts *kafkaserver.Options) backend {
	return backend{name, func(dir string) (string, func() error, error) {
		l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
		if err != nil {
			return "", nil, err
		}
		srv, err := kafkaserver.New(l, opts)
		if err == nil {
			err = l.CreateTopic(benchTopic, eventlog.TopicConfig{Partitions: benchPartitions})
		}
		var ln net.Listener
		if err == nil {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return "", nil, errors.Join(err, l.Close())
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		return ln.Addr().String(), func() error {
			err := srv.Close()
			<-served
			return errors.Join(err, l.Close())
		}, nil
	}}
}

// kfake is franz-go's kfake cluster, one broker.
func kfakeBackend() backend {
	return backend{"kfake", func(string) (string, func() error, error) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(benchPartitions, benchTopic))
		if err != nil {
			return "", nil, err
		}
		return c.ListenAddrs()[0], func() error { c.Close(); return nil }, nil
	}}
}

// produceAll produces records with acks=1 and waits for all of them.
func produceAll(tb testing.TB, cl *kgo.Client, records []*kgo.Record) {
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
	require.NoError(tb, cl.Flush(ctx))
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}

func producer(tb testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.MaxBufferedRecords(benchRecords)}, opts...)...)
	require.NoError(tb, err)
	return cl
}

// loaded starts be holding the benchmark's records in batches of up to
// batchBytes. The producer buffers them all before it sends any (manual
// flushing), so it cuts the same batches for every backend, whatever the
// timing; and the records are garbage once loaded, so that the garbage
// collector of a consume benchmark does not mark them again and again.
func loaded(tb testing.TB, be backend, batchBytes int32) (string, func()) {
	addr, stop := be.spawn(tb)
	prod := producer(tb, addr, kgo.ManualFlushing(), kgo.ProducerBatchMaxBytes(batchBytes))
	produceAll(tb, prod, benchRecordSet())
	prod.Close()
	return addr, stop
}

// benchBatchSizes are the batch sizes the records are stored in for the
// consume benchmarks: the Java producer's default (batch.size) and kgo's
// (ProducerBatchMaxBytes, Kafka's default max.message.bytes).
var benchBatchSizes = []struct {
	name  string
	bytes int32
}{
	{"batch=16KiB", 16 << 10},
	{"batch=1MB", 1_000_012},
}

// compare runs a benchmark of every backend at once: each iteration runs
// an op against each backend in turn, starting with a different one every
// time, so that every backend meets the same machine load and the same
// state of the process (heap, garbage collector, caches). It reports each
// backend's time per op and, for each other backend, kfake's time over
// its own: how many times faster it is. setup makes a backend ready and
// returns its op and what stops it.
func compare(b *testing.B, bes []backend, setup func(tb testing.TB, be backend) (op func(), stop func())) {
	ops := make([]func(), len(bes))
	for i, be := range bes {
		op, stop := setup(b, be)
		defer stop()
		ops[i] = op
	}
	runtime.GC() // not the setup's garbage
	elapsed := make([]time.Duration, len(bes))
	b.ResetTimer()
	for i := range b.N {
		for j := range bes {
			k := (i + j) % len(bes)
			start := time.Now()
			ops[k]()
			elapsed[k] += time.Since(start)
		}
	}
	b.StopTimer()
	perOp := func(k int) float64 { return float64(elapsed[k]) / float64(b.N) / 1e6 }
	kfake := slices.IndexFunc(bes, func(be backend) bool { return be.name == "kfake" })
	for k, be := range bes {
		b.ReportMetric(perOp(k), be.name+"-ms/op")
		if k != kfake {
			b.ReportMetric(perOp(kfake)/perOp(k), be.name+"-speedup")
		}
	}
}

// BenchmarkKgoConsume reads benchRecords records with a new kgo consumer,
// from each backend per iteration.
func BenchmarkKgoConsume(b *testing.B) {
	for _, size := range benchBatchSizes {
		b.Run(size.name, func(b *testing.B) {
			compare(b, fetchBackends(), func(tb testing.TB, be backend) (func(), func()) {
				addr, stop := loaded(tb, be, size.bytes)
				return func() { consumeAll(tb, addr) }, stop
			})
		})
	}
}

// consumeAll reads the benchmark's records with a new kgo consumer, with
// kgo's defaults but for a short max wait: the fetch kgo has in flight
// when the records run out must not hold up its Close.
func consumeAll(tb testing.TB, addr string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(benchTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(20*time.Millisecond))
	require.NoError(tb, err)
	defer cl.Close()
	for n := 0; n < benchRecords; {
		fs := cl.PollFetches(context.Background())
		if err := fs.Err(); err != nil {
			tb.Fatal(err)
		}
		n += fs.NumRecords()
	}
}

// BenchmarkKgoProduceAcks1 produces benchRecords records with acks=1 into
// each backend per iteration.
func BenchmarkKgoProduceAcks1(b *testing.B) {
	records := benchRecordSet()
	compare(b, backends(), func(tb testing.TB, be backend) (func(), func()) {
		addr, stop := be.spawn(tb)
		prod := producer(tb, addr)
		produceAll(tb, prod, records[:1000]) // connect and learn metadata
		return func() { produceAll(tb, prod, records) }, func() {
			prod.Close()
			stop()
		}
	})
}

// BenchmarkKgoFetchRequests reads every batch of the topic from each
// backend per iteration with kgo's raw request API — Fetch requests and
// responses, decoded by kmsg, without parsing records — so that the
// broker's share of a consume, which record decoding hides in
// BenchmarkKgoConsume, shows.
func BenchmarkKgoFetchRequests(b *testing.B) {
	compare(b, fetchBackends(), func(tb testing.TB, be backend) (func(), func()) {
		addr, stop := loaded(tb, be, benchBatchSizes[0].bytes)
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		require.NoError(tb, err)
		ctx := context.Background()
		// kfake serves Fetch v13+, which names topics by ID.
		md := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(benchTopic)
		md.Topics = append(md.Topics, mt)
		mdResp, err := md.RequestWith(ctx, cl)
		require.NoError(tb, err)
		topicID := mdResp.Topics[0].TopicID
		return func() { fetchAll(tb, ctx, cl, topicID) }, func() {
			cl.Close()
			stop()
		}
	})
}

// fetchAll reads every batch of the benchmark's topic with Fetch requests
// of kgo's default limits.
func fetchAll(tb testing.TB, ctx context.Context, cl *kgo.Client, topicID [16]byte) {
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
		require.NoError(tb, err)
		done = true
		for _, p := range resp.Topics[0].Partitions {
			require.Zero(tb, p.ErrorCode)
			offsets[p.Partition] = nextOffset(p.RecordBatches, offsets[p.Partition])
			done = done && offsets[p.Partition] >= p.HighWatermark
		}
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
