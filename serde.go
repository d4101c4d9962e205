package eventlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"
)

// The core Record holds bytes. Serializers turn typed keys and values into
// those bytes for a TypedProducer, and Deserializers turn them back for a
// typed consumer. The built-in ones — BytesSerde, StringSerde, Int32Serde,
// Int64Serde and JSONSerde — implement both interfaces and write what
// Kafka's serializers of the same names write, so that Kafka clients can
// read the records and the other way round.
//
// A nil byte slice is Kafka's null: a null key, or a null value (a
// tombstone). A Serializer may return nil to write null; a Deserializer is
// given nil for null, and the built-in ones return the zero value for it.

// ErrSerialization is wrapped by the errors of the built-in deserializers,
// and by TypedProducer around the error of any Serializer. The built-in
// deserializers' errors say what was wrong with the bytes only: the
// *DeserializationError of a typed consumer that wraps them names the
// topic, partition and offset.
var ErrSerialization = errors.New("eventlog: serialization failed")

// Serializer turns a typed key or value into the bytes of a Record, as
// Kafka's Serializer does. topic is the record's topic. Serialize must be
// safe for concurrent use.
type Serializer[T any] interface {
	Serialize(topic string, v T) ([]byte, error)
}

// Deserializer turns the bytes of a Record's key or value back into a typed
// value, as Kafka's Deserializer does. topic is the record's topic; data is
// nil for Kafka's null. Deserialize may keep data: records returned by
// reads own their memory. It must be safe for concurrent use.
type Deserializer[T any] interface {
	Deserialize(topic string, data []byte) (T, error)
}

// TypedRecord is a Record whose key and value have Go types: what a
// TypedProducer sends and a typed consumer returns. Its fields mean what
// Record's do.
type TypedRecord[K, V any] struct {
	Topic     string
	Partition int32 // used by ManualPartitioner; set on records returned by reads
	Offset    int64 // set on records returned by reads
	Timestamp time.Time
	Key       K
	Value     V
	Headers   []Header
}

// BytesSerde passes bytes through unchanged, nil included, as Kafka's
// ByteArraySerializer and ByteArrayDeserializer do.
type BytesSerde struct{}

// Serialize returns v itself.
func (BytesSerde) Serialize(_ string, v []byte) ([]byte, error) { return v, nil }

// Deserialize returns data itself.
func (BytesSerde) Deserialize(_ string, data []byte) ([]byte, error) { return data, nil }

// StringSerde writes a string's bytes, as Kafka's StringSerializer does with
// its default UTF-8 encoding. It neither checks nor repairs UTF-8. The empty
// string is an empty, not null, key or value; null reads as "".
type StringSerde struct{}

// Serialize returns the bytes of v.
func (StringSerde) Serialize(_ string, v string) ([]byte, error) { return []byte(v), nil }

// Deserialize returns data as a string.
func (StringSerde) Deserialize(_ string, data []byte) (string, error) { return string(data), nil }

// Int32Serde writes an int32 as 4 bytes, big endian, as Kafka's
// IntegerSerializer does. Null reads as 0.
type Int32Serde struct{}

// Serialize returns the 4 bytes of v.
func (Int32Serde) Serialize(_ string, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(make([]byte, 0, 4), uint32(v)), nil
}

// Deserialize reads 4 bytes; any other length is an error.
func (Int32Serde) Deserialize(_ string, data []byte) (int32, error) {
	if data == nil {
		return 0, nil
	}
	if len(data) != 4 {
		return 0, fmt.Errorf("%w: an int32 is 4 bytes, got %d", ErrSerialization, len(data))
	}
	return int32(binary.BigEndian.Uint32(data)), nil
}

// Int64Serde writes an int64 as 8 bytes, big endian, as Kafka's
// LongSerializer does. Null reads as 0.
type Int64Serde struct{}

// Serialize returns the 8 bytes of v.
func (Int64Serde) Serialize(_ string, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(v)), nil
}

// Deserialize reads 8 bytes; any other length is an error.
func (Int64Serde) Deserialize(_ string, data []byte) (int64, error) {
	if data == nil {
		return 0, nil
	}
	if len(data) != 8 {
		return 0, fmt.Errorf("%w: an int64 is 8 bytes, got %d", ErrSerialization, len(data))
	}
	return int64(binary.BigEndian.Uint64(data)), nil
}

// JSONSerde writes values as JSON with encoding/json. A nil pointer or nil
// interface is written as null — no bytes at all, a tombstone when it is a
// value — rather than the text "null", and null reads as T's zero value.
type JSONSerde[T any] struct{}

// Serialize returns v as JSON, or nil when v is a nil pointer or interface.
func (JSONSerde[T]) Serialize(_ string, v T) ([]byte, error) {
	if rv := reflect.ValueOf(&v).Elem(); (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) && rv.IsNil() {
		return nil, nil
	}
	return json.Marshal(v)
}

// Deserialize decodes data as JSON into a T.
func (JSONSerde[T]) Deserialize(_ string, data []byte) (T, error) {
	var v T
	if data == nil {
		return v, nil
	}
	if err := json.Unmarshal(data, &v); err != nil {
		var zero T
		return zero, fmt.Errorf("%w: %w", ErrSerialization, err)
	}
	return v, nil
}

// Every built-in serde is both a Serializer and a Deserializer.
var (
	_ Serializer[[]byte]     = BytesSerde{}
	_ Deserializer[[]byte]   = BytesSerde{}
	_ Serializer[string]     = StringSerde{}
	_ Deserializer[string]   = StringSerde{}
	_ Serializer[int32]      = Int32Serde{}
	_ Deserializer[int32]    = Int32Serde{}
	_ Serializer[int64]      = Int64Serde{}
	_ Deserializer[int64]    = Int64Serde{}
	_ Serializer[struct{}]   = JSONSerde[struct{}]{}
	_ Deserializer[struct{}] = JSONSerde[struct{}]{}
)

// checkSerde reports what makes s, a Serializer or Deserializer given to a
// typed wrapper, unusable: nil, or a nil pointer to one of the library's
// serdes, whose value methods would dereference it at the first record. A
// nil pointer to an application's own type is left to its methods, which
// may accept it. T is the serde's type argument, for JSONSerde.
func checkSerde[T any](s any) error {
	nilPointer := false
	switch p := s.(type) {
	case nil:
		return errors.New("is nil")
	case *BytesSerde:
		nilPointer = p == nil
	case *StringSerde:
		nilPointer = p == nil
	case *Int32Serde:
		nilPointer = p == nil
	case *Int64Serde:
		nilPointer = p == nil
	case *JSONSerde[T]:
		nilPointer = p == nil
	}
	if nilPointer {
		return fmt.Errorf("is a nil %T: use a value of the type, or a pointer to one", s)
	}
	return nil
}
