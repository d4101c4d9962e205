package eventlog

import (
	"context"
	"fmt"
	"iter"
)

// TypedConsumer reads TypedRecords through a Consumer, turning keys and
// values back into Go values with its deserializers. It has no state of its
// own: assign, seek, pause and close the Consumer. Like the Consumer, it is
// for one goroutine at a time.
type TypedConsumer[K, V any] struct {
	c      *Consumer
	keys   Deserializer[K]
	values Deserializer[V]
}

// DeserializationError reports a record whose key or value its
// Deserializer refused (Kafka's RecordDeserializationException). The
// consumer's position stays at the record, so every later poll reports it
// again; to skip it, Seek to Offset+1.
type DeserializationError struct {
	TopicPartition
	Offset int64
	Key    bool  // the key failed; otherwise the value
	Err    error // the Deserializer's error
}

// Error names the record and what failed to deserialize.
func (e *DeserializationError) Error() string {
	part := "value"
	if e.Key {
		part = "key"
	}
	return fmt.Sprintf("eventlog: topic %q partition %d offset %d: deserialize %s: %s", e.Topic, e.Partition, e.Offset, part, unprefixed(e.Err))
}

// Unwrap returns the Deserializer's error.
func (e *DeserializationError) Unwrap() error { return e.Err }

// NewTypedConsumer returns a TypedConsumer reading through c. The key and
// value types usually follow from the deserializers:
//
//	orders := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.JSONSerde[Order]{})
//
// It panics, with an error wrapping ErrInvalidConfig that names the
// argument, if c or a deserializer is nil, or a deserializer is a nil
// pointer to one of the library's serdes, which would panic at the first
// record.
func NewTypedConsumer[K, V any](c *Consumer, keys Deserializer[K], values Deserializer[V]) *TypedConsumer[K, V] {
	if c == nil {
		panic(errorf("eventlog: NewTypedConsumer: %w: the Consumer is nil", ErrInvalidConfig))
	}
	if err := checkSerde[K](keys); err != nil {
		panic(errorf("eventlog: NewTypedConsumer: %w: the key Deserializer %v", ErrInvalidConfig, err))
	}
	if err := checkSerde[V](values); err != nil {
		panic(errorf("eventlog: NewTypedConsumer: %w: the value Deserializer %v", ErrInvalidConfig, err))
	}
	return &TypedConsumer[K, V]{c: c, keys: keys, values: values}
}

// Poll is Consumer.Poll with deserialized records. A record that fails to
// deserialize ends the result before it; the next Poll then returns a
// *DeserializationError for it, and no position moves past it. The
// deserializers run inside the Poll: a Close from one returns an error
// wrapping ErrConcurrentUse, and other calls of the consumer from one fail
// with ErrConcurrentUse. A Deserializer that panics makes Poll panic with
// its value, and no position moves past the records polled, which the
// caller never got: a Close that the caller deferred commits none of them.
func (tc *TypedConsumer[K, V]) Poll(ctx context.Context) ([]TypedRecord[K, V], error) {
	var out []TypedRecord[K, V]
	var decodeErr error
	// The records are decoded before the consumer is released, and those
	// after a failure given back, so that no call in between (a Close from
	// another goroutine, which commits) sees a position past them.
	recs, err := tc.c.pollScratch(ctx, func(recs []Record) int {
		out = make([]TypedRecord[K, V], 0, len(recs))
		for i := range recs {
			r, err := tc.decode(&recs[i])
			if err != nil {
				decodeErr = err
				return i
			}
			out = append(out, r)
		}
		return len(recs)
	})
	tc.c.giveScratch(recs)
	switch {
	case err != nil:
		return nil, err
	case decodeErr != nil && len(out) == 0:
		return nil, decodeErr
	}
	return out, nil
}

// Records is Consumer.Records with deserialized records. A record that
// fails to deserialize ends the loop with a *DeserializationError, and the
// position stays at that record; so it does when a Deserializer panics,
// and the panic goes on.
func (tc *TypedConsumer[K, V]) Records(ctx context.Context) iter.Seq2[TypedRecord[K, V], error] {
	return tc.iterate(ctx, false)
}

// ReadToEnd is Consumer.ReadToEnd with deserialized records. A record that
// fails to deserialize ends the loop with a *DeserializationError, and the
// position stays at that record, as it does when a Deserializer panics.
func (tc *TypedConsumer[K, V]) ReadToEnd(ctx context.Context) iter.Seq2[TypedRecord[K, V], error] {
	return tc.iterate(ctx, true)
}

func (tc *TypedConsumer[K, V]) iterate(ctx context.Context, toEnd bool) iter.Seq2[TypedRecord[K, V], error] {
	return func(yield func(TypedRecord[K, V], error) bool) {
		tc.c.each(ctx, toEnd, func(r Record, err error) (bool, bool) {
			if err != nil {
				yield(TypedRecord[K, V]{}, err)
				return false, true
			}
			tr, err := tc.decodeHolding(&r)
			if err != nil {
				yield(TypedRecord[K, V]{}, err)
				return false, false // not consumed: the position stays at it
			}
			return yield(tr, nil), true
		})
	}
}

// decodeHolding is decode for the iterators, which move the position past
// a batch before they yield its records: if a Deserializer panics, the
// position is put back at the record, which was never yielded, and the
// panic goes on.
func (tc *TypedConsumer[K, V]) decodeHolding(r *Record) (TypedRecord[K, V], error) {
	decoded := false
	defer func() {
		if !decoded {
			_ = tc.c.Seek(TopicPartition{r.Topic, r.Partition}, r.Offset)
		}
	}()
	tr, err := tc.decode(r)
	decoded = true
	return tr, err
}

func (tc *TypedConsumer[K, V]) decode(r *Record) (TypedRecord[K, V], error) {
	fail := func(key bool, err error) error {
		return &DeserializationError{TopicPartition: TopicPartition{r.Topic, r.Partition}, Offset: r.Offset, Key: key, Err: err}
	}
	key, err := tc.keys.Deserialize(r.Topic, r.Key)
	if err != nil {
		return TypedRecord[K, V]{}, fail(true, err)
	}
	value, err := tc.values.Deserialize(r.Topic, r.Value)
	if err != nil {
		return TypedRecord[K, V]{}, fail(false, err)
	}
	return TypedRecord[K, V]{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		Key:       key,
		Value:     value,
		Headers:   r.Headers,
	}, nil
}
