package eventlog

import (
	"context"
)

// TypedProducer sends TypedRecords through a Producer, turning their keys
// and values into bytes with its serializers. It is safe for concurrent use
// and has no state of its own: Flush and Close the Producer.
type TypedProducer[K, V any] struct {
	producer *Producer
	keys     Serializer[K]
	values   Serializer[V]
}

// NewTypedProducer returns a TypedProducer sending through p. The key and
// value types usually follow from the serializers:
//
//	orders := eventlog.NewTypedProducer(p, eventlog.StringSerde{}, eventlog.JSONSerde[Order]{})
//
// It panics, with an error wrapping ErrInvalidConfig that names the
// argument, if p or a serializer is nil, or a serializer is a nil pointer
// to one of the library's serdes, which would panic at the first record.
func NewTypedProducer[K, V any](p *Producer, keys Serializer[K], values Serializer[V]) *TypedProducer[K, V] {
	if p == nil {
		panic(errorf("eventlog: NewTypedProducer: %w: the Producer is nil", ErrInvalidConfig))
	}
	if err := checkSerde[K](keys); err != nil {
		panic(errorf("eventlog: NewTypedProducer: %w: the key Serializer %v", ErrInvalidConfig, err))
	}
	if err := checkSerde[V](values); err != nil {
		panic(errorf("eventlog: NewTypedProducer: %w: the value Serializer %v", ErrInvalidConfig, err))
	}
	return &TypedProducer[K, V]{producer: p, keys: keys, values: values}
}

// Send serializes r and sends it as Producer.Send does. An error of a
// serializer wraps ErrSerialization, and the record is not sent.
func (tp *TypedProducer[K, V]) Send(ctx context.Context, r TypedRecord[K, V]) (RecordMetadata, error) {
	rec, err := tp.record(&r)
	if err != nil {
		return RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}, err
	}
	return tp.producer.Send(ctx, rec)
}

// SendAsync serializes r and sends it as Producer.SendAsync does. When a
// serializer fails, fn is called with its error, wrapping ErrSerialization,
// before SendAsync returns.
func (tp *TypedProducer[K, V]) SendAsync(ctx context.Context, r TypedRecord[K, V], fn func(RecordMetadata, error)) {
	rec, err := tp.record(&r)
	if err != nil {
		if fn != nil {
			fn(RecordMetadata{Topic: r.Topic, Partition: -1, Offset: -1}, err)
		} else {
			tp.producer.log.opts.Logger.Warn("eventlog: record not sent", "topic", r.Topic, "err", err)
		}
		return
	}
	tp.producer.SendAsync(ctx, rec, fn)
}

func (tp *TypedProducer[K, V]) record(r *TypedRecord[K, V]) (Record, error) {
	key, err := tp.keys.Serialize(r.Topic, r.Key)
	if err != nil {
		return Record{}, errorf("eventlog: topic %q: %w: key: %w", r.Topic, ErrSerialization, err)
	}
	value, err := tp.values.Serialize(r.Topic, r.Value)
	if err != nil {
		return Record{}, errorf("eventlog: topic %q: %w: value: %w", r.Topic, ErrSerialization, err)
	}
	return Record{
		Topic:     r.Topic,
		Partition: r.Partition,
		Timestamp: r.Timestamp,
		Key:       key,
		Value:     value,
		Headers:   r.Headers,
	}, nil
}
