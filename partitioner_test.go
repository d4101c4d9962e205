package eventlog_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/eventlog/eventlog"
)

// javaInt reads a 32-bit pattern as Java's int.
func javaInt(u uint32) int32 { return int32(u) }

// Kafka's murmur2 results for known keys, as signed 32-bit ints the way the
// Java client returns them.
var kafkaMurmur2 = []struct {
	key  string
	hash int32
}{
	// Apache Kafka, clients/src/test/.../common/utils/UtilsTest.testMurmur2.
	{"21", -973932308},
	{"foobar", -790332482},
	{"a-little-bit-long-string", -985981536},
	{"a-little-bit-longer-string", -1486304829},
	{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
	{"abc", 479470107},
	// librdkafka, src/rdmurmur2.c unittest_murmur2, whose expected values
	// are the Java client's (java_murmur2_results), as unsigned hex.
	{"kafka", javaInt(0xd067cf64)},
	{"giberish123456789", javaInt(0x8f552b0c)},
	{"1234", javaInt(0x9fc97b14)},
	{"234", javaInt(0xe7c009ca)},
	{"34", javaInt(0x873930da)},
	{"4", javaInt(0x5a4b5ca1)},
	{"PreAmbleWillBeRemoved,ThePrePartThatIs", javaInt(0x78424f1c)},
	{"reAmbleWillBeRemoved,ThePrePartThatIs", javaInt(0x4a62b377)},
	{"eAmbleWillBeRemoved,ThePrePartThatIs", javaInt(0xe0e4e09e)},
	{"AmbleWillBeRemoved,ThePrePartThatIs", javaInt(0x62b8b43f)},
	{"", javaInt(0x106e08d9)},
}

// TestKeyPartitionMatchesKafka checks KeyPartition against partitions
// derived from Kafka's own murmur2 vectors with the Java client's formula,
// Utils.toPositive(Utils.murmur2(key)) % numPartitions, for several
// partition counts. With math.MaxInt32 partitions the result is the whole
// 31-bit positive hash.
func TestKeyPartitionMatchesKafka(t *testing.T) {
	for _, v := range kafkaMurmur2 {
		positive := int64(v.hash) & 0x7fffffff // Utils.toPositive
		for _, n := range []int{1, 2, 3, 12, 50, 1000, math.MaxInt32} {
			want := int32(positive % int64(n))
			assert.Equal(t, want, eventlog.KeyPartition([]byte(v.key), n), "key %q, %d partitions", v.key, n)
		}
	}
	assert.Equal(t, int32(16), eventlog.KeyPartition([]byte("foobar"), 50))
}

// TestKeyPartitionKafkaPythonVectors uses the key→partition pairs
// kafka-python checks in test_murmur2_java_compatibility, "compared with
// output from Kafka's org.apache.kafka.clients.producer.Partitioner", over
// 1000 partitions.
func TestKeyPartitionKafkaPythonVectors(t *testing.T) {
	for key, want := range map[string]int32{
		"": 681, "a": 524, "ab": 434, "abc": 107, "123456789": 566, "\x00 ": 742,
	} {
		assert.Equal(t, want, eventlog.KeyPartition([]byte(key), 1000), "key %q", key)
	}
	assert.Equal(t, eventlog.KeyPartition(nil, 1000), eventlog.KeyPartition([]byte{}, 1000))
	assert.Equal(t, int32(0), eventlog.KeyPartition([]byte("x"), 0))
}

func TestDefaultPartitioner(t *testing.T) {
	d := &eventlog.DefaultPartitioner{StickyBytes: 100}
	for _, v := range kafkaMurmur2 {
		r := &eventlog.Record{Topic: "t", Key: []byte(v.key)}
		assert.Equal(t, eventlog.KeyPartition(r.Key, 7), d.Partition(r, 7), "keyed, even empty: hashed")
	}

	// Keyless records of 30 bytes as encoded (a 26-byte value) stick to one
	// partition until 100 bytes went there: four records, then the next
	// partition.
	keyless := &eventlog.Record{Topic: "t", Value: make([]byte, 26)}
	first := d.Partition(keyless, 3)
	var got []int32
	for range 12 {
		got = append(got, d.Partition(keyless, 3))
	}
	next := func(p int32, k int32) int32 { return (p + k) % 3 }
	assert.Equal(t, []int32{
		first, first, first,
		next(first, 1), next(first, 1), next(first, 1), next(first, 1),
		next(first, 2), next(first, 2), next(first, 2), next(first, 2),
		first,
	}, got)

	other := &eventlog.Record{Topic: "other", Value: make([]byte, 26)}
	assert.Less(t, d.Partition(other, 3), int32(3), "each topic sticks on its own")
	assert.Equal(t, int32(0), d.Partition(keyless, 1))

	var zero eventlog.DefaultPartitioner // StickyBytes defaults to batch.size
	p0 := zero.Partition(keyless, 5)
	for range 100 {
		assert.Equal(t, p0, zero.Partition(keyless, 5))
	}
}

func TestManualAndRoundRobinPartitioners(t *testing.T) {
	r := &eventlog.Record{Topic: "t", Key: []byte("k"), Partition: 3}
	assert.Equal(t, int32(3), eventlog.ManualPartitioner{}.Partition(r, 4))

	var rr eventlog.RoundRobinPartitioner
	var got []int32
	for range 7 {
		got = append(got, rr.Partition(r, 3))
	}
	assert.Equal(t, []int32{0, 1, 2, 0, 1, 2, 0}, got, "keys are ignored")
	assert.Equal(t, int32(0), rr.Partition(&eventlog.Record{Topic: "u"}, 3), "each topic has its own turn")

	f := eventlog.PartitionerFunc(func(r *eventlog.Record, n int) int32 { return int32(len(r.Value) % n) })
	assert.Equal(t, int32(2), f.Partition(&eventlog.Record{Value: []byte("abcde")}, 3))
}

func BenchmarkKeyPartition(b *testing.B) {
	key := fmt.Appendf(nil, "key-%012d", 42)
	for b.Loop() {
		_ = eventlog.KeyPartition(key, 12)
	}
}
