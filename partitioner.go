package eventlog

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Partitioner chooses the partition of each record a Producer sends
// (Kafka's partitioner.class). Partition is called once per record, on the
// goroutine calling Send or SendAsync, possibly from many goroutines at once.
// r is a copy of the record being sent, with r.Topic naming its topic and a
// zero Timestamp already set to the send time; the copy is reused once
// Partition returns, so Partition must not keep it. It must return a
// partition in [0, numPartitions); the record fails with
// ErrPartitionNotFound otherwise.
type Partitioner interface {
	Partition(r *Record, numPartitions int) int32
}

// PartitionerFunc adapts a function to a Partitioner.
type PartitionerFunc func(r *Record, numPartitions int) int32

// Partition returns f(r, numPartitions).
func (f PartitionerFunc) Partition(r *Record, numPartitions int) int32 { return f(r, numPartitions) }

// KeyPartition returns the partition that Kafka's default partitioner gives
// a key in a topic of numPartitions partitions:
// toPositive(murmur2(key)) % numPartitions, as Kafka's
// BuiltInPartitioner.partitionForKey computes it. A key therefore lands on
// the same partition number as it would in a Kafka cluster. It returns 0 when
// numPartitions is not positive.
func KeyPartition(key []byte, numPartitions int) int32 {
	if numPartitions <= 0 {
		return 0
	}
	return int32((uint32(murmur2(key)) & 0x7fffffff) % uint32(numPartitions))
}

// murmur2 is Kafka's Utils.murmur2: MurmurHash2, 32 bits, with Kafka's
// seed, reading the data as little-endian 32-bit words.
func murmur2(data []byte) int32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	for len(data) >= 4 {
		k := binary.LittleEndian.Uint32(data)
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// DefaultPartitioner is Kafka's default partitioning, used by a Producer
// whose ProducerOptions.Partitioner is nil. A record with a key, even an
// empty one, goes to KeyPartition(key). A record with a nil key sticks to
// one partition of its topic until about StickyBytes of records have gone
// there, then moves on to the next partition, so that keyless records fill
// whole batches (Kafka's uniform sticky partitioner, KIP-794). The first
// sticky partition of each topic is chosen at random.
//
// The zero value is ready to use; a DefaultPartitioner must not be copied
// after first use. It is safe for concurrent use.
type DefaultPartitioner struct {
	// StickyBytes is how many bytes of keyless records, as encoded, go to
	// one partition before the next one takes over. Default 16384, Kafka's
	// batch.size; the partitioner a Producer makes for itself uses the
	// Producer's BatchBytes.
	StickyBytes int

	sticky sync.Map // topic name → *stickyPartition
}

// stickyPartition is the partition keyless records of one topic go to.
type stickyPartition struct {
	mu        sync.Mutex
	partition int32
	bytes     int // sent to partition since it was chosen
}

// Partition implements Partitioner.
func (d *DefaultPartitioner) Partition(r *Record, numPartitions int) int32 {
	if r.Key != nil {
		return KeyPartition(r.Key, numPartitions)
	}
	if numPartitions <= 1 {
		return 0
	}
	limit := d.StickyBytes
	if limit <= 0 {
		limit = DefaultProducerBatchBytes
	}
	v, ok := d.sticky.Load(r.Topic)
	if !ok {
		v, _ = d.sticky.LoadOrStore(r.Topic, &stickyPartition{partition: rand.Int32N(int32(numPartitions))})
	}
	s := v.(*stickyPartition)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes >= limit || int(s.partition) >= numPartitions {
		s.partition = (s.partition + 1) % int32(numPartitions)
		s.bytes = 0
	}
	s.bytes += recordFixedSize(r)
	return s.partition
}

// ManualPartitioner sends each record to the partition its Partition field
// names. It is how a record's explicit partition is given: in Kafka terms,
// with it the explicit partition always wins. Record.Partition's zero value
// is partition 0, so a Producer cannot tell an unset partition from 0; a
// Partitioner that wants explicit partitions for some records and hashing
// for others can decide by its own rule and call KeyPartition.
type ManualPartitioner struct{}

// Partition returns r.Partition.
func (ManualPartitioner) Partition(r *Record, _ int) int32 { return r.Partition }

// RoundRobinPartitioner sends the records of each topic to its partitions in
// turn, keyed or not (Kafka's RoundRobinPartitioner). The zero value is ready
// to use; it must not be copied after first use. It is safe for concurrent
// use.
type RoundRobinPartitioner struct {
	next sync.Map // topic name → *atomic.Uint32
}

// Partition implements Partitioner.
func (rr *RoundRobinPartitioner) Partition(r *Record, numPartitions int) int32 {
	if numPartitions <= 1 {
		return 0
	}
	v, ok := rr.next.Load(r.Topic)
	if !ok {
		v, _ = rr.next.LoadOrStore(r.Topic, new(atomic.Uint32))
	}
	return int32((v.(*atomic.Uint32).Add(1) - 1) % uint32(numPartitions))
}
