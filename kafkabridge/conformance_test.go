package kafkabridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The conformance suite states the library's Producer and Consumer
// semantics once and checks them on three systems (conformance_systems_test.go):
//
//   - embedded: an eventlog Producer and Consumer on one Log;
//   - forward: an eventlog Producer, a Forward, and a kgo consumer of the
//     kfake cluster, committing to a Kafka consumer group;
//   - mirror: a kgo producer with Kafka's default partitioner, a Mirror,
//     and an eventlog Consumer of the local Log.
//
// Where the systems differ, the package documentation says so.

// system is a producing side and a consuming side joined by one of the paths
// above.
type system interface {
	// createTopic creates a topic where records are produced and where
	// they are consumed.
	createTopic(t *testing.T, name string, partitions int)
	// produce sends records with Kafka's default partitioning (by key) and
	// returns once they can be consumed, with the partition and offset
	// the producer was told.
	produce(t *testing.T, topic string, recs []eventlog.Record) []eventlog.Record
	// newConsumer makes a consumer of the consuming side in a group.
	newConsumer(t *testing.T, group string) consumer
	// restart stops what runs between the two sides and starts it again.
	restart(t *testing.T)
}

// consumer is the consuming side's consumer, assigned partitions by hand.
type consumer interface {
	// assign takes partitions; each starts at the group's committed
	// offset, or at the log start without one.
	assign(t *testing.T, tps ...eventlog.TopicPartition)
	seekToBeginning(t *testing.T, tp eventlog.TopicPartition)
	seekToEnd(t *testing.T, tp eventlog.TopicPartition)
	seek(t *testing.T, tp eventlog.TopicPartition, offset int64)
	seekToTime(t *testing.T, tp eventlog.TopicPartition, ts time.Time)
	// position is the offset of the next record poll returns. As in
	// Kafka, seeks to the beginning and end are resolved by it or by
	// poll, not when they are called.
	position(t *testing.T, tp eventlog.TopicPartition) int64
	// poll returns the next n records of the assigned partitions, waiting
	// for them.
	poll(t *testing.T, n int) []eventlog.Record
	commit(t *testing.T, offsets map[eventlog.TopicPartition]int64)
	committed(t *testing.T, tps ...eventlog.TopicPartition) map[eventlog.TopicPartition]int64
	close(t *testing.T)
}

var systems = map[string]func(t *testing.T) system{
	"embedded": newEmbeddedSystem,
	"forward":  newForwardSystem,
	"mirror":   newMirrorSystem,
}

var conformanceCases = []struct {
	name string
	run  func(t *testing.T, s system)
}{
	{"OrderAndKeyPlacement", conformOrderAndKeyPlacement},
	{"NullsHeadersTimestamps", conformNullsHeadersTimestamps},
	{"Seek", conformSeek},
	{"CommittedOffsets", conformCommittedOffsets},
	{"AtLeastOnceAfterRestart", conformAtLeastOnceAfterRestart},
}

func TestConformance(t *testing.T) {
	for _, name := range []string{"embedded", "forward", "mirror"} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range conformanceCases {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, systems[name](t)) })
			}
		})
	}
}

func tp(topic string, p int32) eventlog.TopicPartition {
	return eventlog.TopicPartition{Topic: topic, Partition: p}
}

// conformOrderAndKeyPlacement: records of a key go to Kafka's partition for
// it, and each partition returns records in the order they were sent, at
// the offsets the producer was told.
func conformOrderAndKeyPlacement(t *testing.T, s system) {
	const partitions = 4
	s.createTopic(t, "orders", partitions)
	var recs []eventlog.Record
	for i := range 200 {
		recs = append(recs, eventlog.Record{Key: []byte(fmt.Sprintf("user-%d", i%25)), Value: []byte(fmt.Sprint(i))})
	}
	sent := s.produce(t, "orders", recs)
	for i, r := range sent {
		require.Equal(t, eventlog.KeyPartition(r.Key, partitions), r.Partition, "record %d: Kafka's partition for its key", i)
	}
	c := s.newConsumer(t, "g")
	defer c.close(t)
	for p, want := range byPartition(sent) {
		c.assign(t, tp("orders", p))
		c.seekToBeginning(t, tp("orders", p))
		got := c.poll(t, len(want))
		for i, r := range got {
			assert.Equal(t, p, r.Partition)
			assert.Equal(t, want[i].Offset, r.Offset, "partition %d record %d", p, i)
			assert.Equal(t, int64(i), r.Offset, "dense offsets from 0")
			assert.Equal(t, string(want[i].Value), string(r.Value), "partition %d: send order", p)
		}
	}
}

// conformNullsHeadersTimestamps: null and empty keys and values stay
// distinct, headers (null values included) and timestamps are kept.
func conformNullsHeadersTimestamps(t *testing.T, s system) {
	s.createTopic(t, "events", 2)
	sent := s.produce(t, "events", sampleRecords("events", 60, time.UnixMilli(1_600_000_000_000)))
	c := s.newConsumer(t, "g")
	defer c.close(t)
	for p, want := range byPartition(sent) {
		c.assign(t, tp("events", p))
		c.seekToBeginning(t, tp("events", p))
		got := c.poll(t, len(want))
		for i := range want {
			assertSameLocal(t, want[i], got[i], "partition %d record %d", p, i)
		}
	}
}

// conformSeek: seek to the beginning, to an offset, to a time (the first
// record at or after it) and to the end (only later records).
func conformSeek(t *testing.T, s system) {
	s.createTopic(t, "seek", 1)
	base := time.UnixMilli(1_600_000_000_000)
	var recs []eventlog.Record
	for i := range 50 {
		recs = append(recs, eventlog.Record{Key: []byte("k"), Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(i) * 10 * time.Millisecond)})
	}
	s.produce(t, "seek", recs)
	c := s.newConsumer(t, "g")
	defer c.close(t)
	p := tp("seek", 0)
	c.assign(t, p)

	c.seekToBeginning(t, p)
	assert.Equal(t, int64(0), c.poll(t, 1)[0].Offset, "beginning")
	c.seek(t, p, 20)
	assert.Equal(t, "20", string(c.poll(t, 1)[0].Value), "offset 20")
	c.seekToTime(t, p, base.Add(255*time.Millisecond))
	assert.Equal(t, "26", string(c.poll(t, 1)[0].Value), "first record at or after the time")
	c.seekToTime(t, p, base.Add(250*time.Millisecond))
	assert.Equal(t, "25", string(c.poll(t, 1)[0].Value), "a record exactly at the time")
	c.seekToEnd(t, p)
	assert.Equal(t, int64(50), c.position(t, p), "the end, resolved before the next record arrives")
	s.produce(t, "seek", []eventlog.Record{{Key: []byte("k"), Value: []byte("later"), Timestamp: base.Add(time.Second)}})
	got := c.poll(t, 1)[0]
	assert.Equal(t, "later", string(got.Value), "end: only what comes after")
	assert.Equal(t, int64(50), got.Offset)
}

// conformCommittedOffsets: a group's commit is what Committed reports, and a
// consumer of the group assigned the partition starts there.
func conformCommittedOffsets(t *testing.T, s system) {
	s.createTopic(t, "commits", 2)
	sent := s.produce(t, "commits", sampleRecords("commits", 40, time.UnixMilli(1_000)))
	parts := byPartition(sent)
	a := s.newConsumer(t, "g")
	a.assign(t, tp("commits", 0), tp("commits", 1))
	assert.Empty(t, a.committed(t, tp("commits", 0), tp("commits", 1)), "nothing committed yet")
	a.commit(t, map[eventlog.TopicPartition]int64{tp("commits", 0): 5, tp("commits", 1): 7})
	assert.Equal(t, map[eventlog.TopicPartition]int64{tp("commits", 0): 5, tp("commits", 1): 7}, a.committed(t, tp("commits", 0), tp("commits", 1)))
	a.close(t)

	b := s.newConsumer(t, "g")
	defer b.close(t)
	b.assign(t, tp("commits", 0))
	got := b.poll(t, len(parts[0])-5)
	assert.Equal(t, int64(5), got[0].Offset, "starts at the committed offset")
	other := s.newConsumer(t, "other")
	defer other.close(t)
	other.assign(t, tp("commits", 1))
	assert.Equal(t, int64(0), other.poll(t, 1)[0].Offset, "groups are independent")
}

// conformAtLeastOnceAfterRestart: records consumed but not committed before
// a consumer goes away are consumed again by its successor, across a restart
// of what lies between producer and consumer, and records produced after
// the restart follow.
func conformAtLeastOnceAfterRestart(t *testing.T, s system) {
	s.createTopic(t, "alo", 1)
	p := tp("alo", 0)
	var recs []eventlog.Record
	for i := range 30 {
		recs = append(recs, eventlog.Record{Key: []byte("k"), Value: []byte(fmt.Sprint(i))})
	}
	s.produce(t, "alo", recs)
	a := s.newConsumer(t, "g")
	a.assign(t, p)
	require.Len(t, a.poll(t, 30), 30)
	a.commit(t, map[eventlog.TopicPartition]int64{p: 20})
	a.close(t) // records 20..29 were consumed, not committed

	s.restart(t)
	for i := range recs {
		recs[i].Value = []byte(fmt.Sprint(30 + i))
	}
	s.produce(t, "alo", recs[:10])
	b := s.newConsumer(t, "g")
	defer b.close(t)
	b.assign(t, p)
	got := b.poll(t, 20)
	for i, r := range got {
		assert.Equal(t, int64(20+i), r.Offset)
		assert.Equal(t, fmt.Sprint(20+i), string(r.Value))
	}
}
