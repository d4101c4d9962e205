package eventlog

import "time"

// Header is a key/value pair attached to a record, as in Kafka. Header keys
// are strings; a nil Value is a null header value, distinct from empty.
type Header struct {
	Key   string
	Value []byte
}

// Record is one entry of a partition.
//
// A nil Key is Kafka's null key, distinct from an empty one. A nil Value is a
// tombstone (null value), distinct from an empty value. Records returned by
// reads own their memory: the slices are copies that stay valid forever and
// may be modified by the caller.
type Record struct {
	Topic     string    // set on records returned by reads; where a Producer sends the record
	Partition int32     // set on records returned by reads; where a ManualPartitioner sends it
	Offset    int64     // assigned by the log at append time
	Timestamp time.Time // Kafka keeps millisecond precision; zero means "now" at append
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Compression is a per-batch codec, numbered as Kafka numbers them in the
// batch attributes (compression.type).
type Compression int8

// Compression codecs. The values are part of the on-disk format.
const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

// supported reports whether the library writes and reads c.
func (c Compression) supported() bool {
	return c >= CompressionNone && c <= CompressionZstd
}

// String returns Kafka's name for the codec.
func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return "unknown"
}
