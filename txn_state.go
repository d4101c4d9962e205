package eventlog

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// Transaction state lives in the internal topic __transaction_state, one
// record per change of a transactional ID's state, in Kafka's own layout
// (TransactionLogKey and TransactionLogValue version 0), so that Kafka
// tools can read the topic:
//
//	key:   +-------------+--------------------+
//	       | version i16 | transactional id   |
//	       | = 0         | string             |
//	       +-------------+--------------------+
//
//	value: +-------------+-------------+-------+------------+-------+
//	       | version i16 | producer id | epoch | timeout ms | state |
//	       | = 0         | i64         | i16   | i32        | i8    |
//	       +-------------+-------------+-------+------------+-------+
//	       +-------------------------------------------------+-----------+-----------+
//	       | partitions: i32 count (-1 null), then per topic:| last      | start     |
//	       | topic string, i32 count, i32 partition ids      | update ms | ms (-1)   |
//	       +-------------------------------------------------+-----------+-----------+
//
// Integers are big-endian; a string is an int16 length and UTF-8 bytes.
// The states are Kafka's: Empty 0, Ongoing 1, PrepareCommit 2, PrepareAbort
// 3, CompleteCommit 4, CompleteAbort 5 (Dead 6 and PrepareEpochFence 7 are
// read but never written). These constants are part of the format.
const (
	txnStateTopicName  = "__transaction_state"
	txnStateKeyVersion = 0
	txnStateValueV0    = 0

	// txnStateSegmentBytes is Kafka's transaction.state.log.segment.bytes.
	txnStateSegmentBytes = 100 << 20
)

// txnStatus is a transactional ID's state, numbered as Kafka numbers it.
type txnStatus int8

const (
	txnEmpty             txnStatus = 0
	txnOngoing           txnStatus = 1
	txnPrepareCommit     txnStatus = 2
	txnPrepareAbort      txnStatus = 3
	txnCompleteCommit    txnStatus = 4
	txnCompleteAbort     txnStatus = 5
	txnDead              txnStatus = 6
	txnPrepareEpochFence txnStatus = 7
)

// String returns Kafka's name of the state.
func (s txnStatus) String() string {
	switch s {
	case txnEmpty:
		return "Empty"
	case txnOngoing:
		return "Ongoing"
	case txnPrepareCommit:
		return "PrepareCommit"
	case txnPrepareAbort:
		return "PrepareAbort"
	case txnCompleteCommit:
		return "CompleteCommit"
	case txnCompleteAbort:
		return "CompleteAbort"
	case txnDead:
		return "Dead"
	case txnPrepareEpochFence:
		return "PrepareEpochFence"
	}
	return fmt.Sprintf("txnStatus(%d)", int8(s))
}

// txnRecord is one decoded TransactionLogValue.
type txnRecord struct {
	producer   ProducerID
	timeout    time.Duration
	state      txnStatus
	partitions []TopicPartition // sorted
	lastUpdate int64            // ms
	start      int64            // ms; -1 when no transaction is open
}

// encodeTxnKey appends the record key of a transactional ID.
func encodeTxnKey(dst []byte, id string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, txnStateKeyVersion)
	return appendKafkaString(dst, id)
}

// encodeTxnValue appends a TransactionLogValue of version 0.
func encodeTxnValue(dst []byte, r *txnRecord) []byte {
	be := binary.BigEndian
	dst = be.AppendUint16(dst, txnStateValueV0)
	dst = be.AppendUint64(dst, uint64(r.producer.ID))
	dst = be.AppendUint16(dst, uint16(r.producer.Epoch))
	dst = be.AppendUint32(dst, uint32(r.timeout.Milliseconds()))
	dst = append(dst, byte(r.state))
	var topics []string
	for _, tp := range r.partitions {
		if len(topics) == 0 || topics[len(topics)-1] != tp.Topic {
			topics = append(topics, tp.Topic)
		}
	}
	dst = be.AppendUint32(dst, uint32(len(topics)))
	for i := 0; i < len(r.partitions); {
		topic := r.partitions[i].Topic
		j := i
		for j < len(r.partitions) && r.partitions[j].Topic == topic {
			j++
		}
		dst = appendKafkaString(dst, topic)
		dst = be.AppendUint32(dst, uint32(j-i))
		for _, tp := range r.partitions[i:j] {
			dst = be.AppendUint32(dst, uint32(tp.Partition))
		}
		i = j
	}
	dst = be.AppendUint64(dst, uint64(r.lastUpdate))
	return be.AppendUint64(dst, uint64(r.start))
}

// decodeTxnKey decodes a __transaction_state key; ok is false, without an
// error, for key versions that are not transaction metadata.
func decodeTxnKey(b []byte) (id string, ok bool, err error) {
	r := kafkaReader{b: b}
	if v := r.int16(); r.err == nil && v != txnStateKeyVersion {
		return "", false, nil
	}
	id = r.stringLike("")
	if err := r.done(); err != nil {
		return "", false, fmt.Errorf("transaction state key: %w", err)
	}
	return id, true, nil
}

// decodeTxnValue decodes and checks a TransactionLogValue of version 0.
func decodeTxnValue(b []byte) (txnRecord, error) {
	r := kafkaReader{b: b}
	var t txnRecord
	if v := r.int16(); r.err == nil && v != txnStateValueV0 {
		return t, fmt.Errorf("transaction state value: unsupported version %d", v)
	}
	t.producer = ProducerID{ID: r.int64(), Epoch: r.int16()}
	t.timeout = time.Duration(r.int32()) * time.Millisecond
	t.state = txnStatus(r.int8())
	topics := r.int32()
	if r.err == nil && (topics < -1 || int(topics) > len(r.b)/6) {
		return t, fmt.Errorf("transaction state value: %d topics", topics)
	}
	for i := int32(0); i < topics && r.err == nil; i++ {
		topic := r.stringLike("")
		n := r.int32()
		if r.err == nil && (n < 0 || int(n) > len(r.b)/4) {
			return t, fmt.Errorf("transaction state value: topic %q with %d partitions", topic, n)
		}
		for range n {
			t.partitions = append(t.partitions, TopicPartition{Topic: topic, Partition: r.int32()})
		}
	}
	t.lastUpdate = r.int64()
	t.start = r.int64()
	if err := r.done(); err != nil {
		return t, fmt.Errorf("transaction state value: %w", err)
	}
	switch {
	case t.producer.ID < 0 || t.producer.Epoch < 0:
		return t, fmt.Errorf("transaction state value: producer %s", t.producer)
	case t.state < txnEmpty || t.state > txnPrepareEpochFence:
		return t, fmt.Errorf("transaction state value: unknown state %d", t.state)
	case t.timeout < 0:
		return t, fmt.Errorf("transaction state value: timeout %v", t.timeout)
	}
	for _, tp := range t.partitions {
		if tp.Partition < 0 {
			return t, fmt.Errorf("transaction state value: partition %s", tp)
		}
	}
	slices.SortFunc(t.partitions, compareTopicPartitions)
	t.partitions = slices.Compact(t.partitions)
	return t, nil
}

// int8 reads a one-byte integer.
func (r *kafkaReader) int8() int8 {
	if b := r.take(1); b != nil {
		return int8(b[0])
	}
	return 0
}
