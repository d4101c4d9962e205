package eventlog_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestErrorsNamePackageOnce: an error that wraps another of the library's
// names the package once, at its start, rather than once per layer
// ("eventlog: topic "t" partition 0: eventlog: record too large: ...").
func TestErrorsNamePackageOnce(t *testing.T) {
	bg := context.Background()
	l := openLog(t, t.TempDir(), nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	p, err := l.NewProducer(&eventlog.ProducerOptions{BufferBytes: 100, Partitioner: eventlog.ManualPartitioner{}})
	require.NoError(t, err)
	defer p.Close()
	tx, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx"})
	require.NoError(t, err)
	defer tx.Close()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g"})
	require.NoError(t, err)
	defer c.Close()
	tp := eventlog.TopicPartition{Topic: "t", Partition: 0}

	errs := map[string]error{}
	_, errs["NewProducer with an unknown codec"] = l.NewProducer(&eventlog.ProducerOptions{Compression: 99})
	_, errs["Send too large"] = p.Send(bg, eventlog.Record{Topic: "t", Value: make([]byte, 200)})
	_, errs["Send to a missing partition"] = p.Send(bg, eventlog.Record{Topic: "t", Partition: 7})
	_, errs["Send without a key to a compacted topic"] = p.Send(bg, eventlog.Record{Topic: "c"})
	_, errs["Send to an internal topic"] = p.Send(bg, eventlog.Record{Topic: "__consumer_offsets"})
	_, errs["SendIf without a condition"] = p.SendIf(bg, eventlog.Record{Topic: "t"}, eventlog.EndOffsetCondition{})
	errs["Seek unassigned"] = c.Seek(tp, 0)
	errs["Assign a missing partition"] = c.Assign(eventlog.TopicPartition{Topic: "t", Partition: 9})
	require.NoError(t, c.Assign(tp))
	errs["Seek negative"] = c.Seek(tp, -1)
	errs["commit past the end"] = c.CommitOffsets(bg, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: 5}})
	errs["commit a missing partition"] = c.CommitOffsets(bg, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{{Topic: "t", Partition: 9}: {Offset: 0}})
	errs["send offsets outside a transaction"] = tx.SendOffsetsToTransaction(bg, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{tp: {Offset: 0}}, eventlog.GroupMetadata{GroupID: "g"})
	require.NoError(t, tx.BeginTransaction())
	errs["BeginTransaction twice"] = tx.BeginTransaction()
	require.NoError(t, tx.AbortTransaction(bg))
	_, errs["Read out of range"] = partition(t, l, "t", 0).Read(5, 10)
	_, errs["Partition missing"] = l.Partition("t", 9)
	typed := eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.JSONSerde[func()]{})
	_, errs["serializer"] = typed.Send(bg, eventlog.TypedRecord[string, func()]{Topic: "t", Value: func() {}})
	deserialize := &eventlog.DeserializationError{TopicPartition: tp, Offset: 3}
	_, deserialize.Err = eventlog.JSONSerde[int]{}.Deserialize("t", []byte("x"))
	errs["deserializer"] = deserialize

	for name, err := range errs {
		if assert.Error(t, err, name) {
			assert.True(t, strings.HasPrefix(err.Error(), "eventlog: "), "%s: %s", name, err)
			assert.Equal(t, 1, strings.Count(err.Error(), "eventlog:"), "%s: %s", name, err)
		}
	}
}

// TestErrorsQuoteNamesAsGiven: leaving the wrapped errors' prefix out
// leaves names alone, even one that holds ": eventlog: ".
func TestErrorsQuoteNamesAsGiven(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	_, err := l.DescribeGroup("x: eventlog: y")
	require.ErrorIs(t, err, eventlog.ErrGroupNotFound)
	assert.Contains(t, err.Error(), `"x: eventlog: y"`)
	assert.True(t, strings.HasPrefix(err.Error(), "eventlog: "), err.Error())

	_, err = l.Partition("a: eventlog: b", 0)
	require.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	assert.Contains(t, err.Error(), `"a: eventlog: b"`)
}
