package eventlog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors. Every error the library returns that stems from one of these
// wraps it, so callers test with errors.Is; the wrapping text adds the topic,
// partition and offset involved.
var (
	// ErrClosed is returned by every call on a Log (or on a handle derived from
	// it) after Close, but for the handles' Close, and a Producer's Flush,
	// which reports no record's outcome (see Producer.Flush).
	ErrClosed = errors.New("eventlog: log is closed")

	// ErrLocked is returned by Open when another Log, in this process or
	// another, holds the directory.
	ErrLocked = errors.New("eventlog: directory is locked by another Log")

	// ErrTopicNotFound is returned for operations on a topic that does not exist.
	ErrTopicNotFound = errors.New("eventlog: topic not found")

	// ErrTopicExists is returned by CreateTopic when the topic already exists.
	ErrTopicExists = errors.New("eventlog: topic already exists")

	// ErrInvalidTopic is returned for a topic name that breaks Kafka's naming
	// rules or uses the reserved "__" prefix.
	ErrInvalidTopic = errors.New("eventlog: invalid topic name")

	// ErrInvalidConfig is returned for an Options or TopicConfig value that is
	// out of range.
	ErrInvalidConfig = errors.New("eventlog: invalid configuration")

	// ErrPartitionNotFound is returned for a partition number outside
	// [0, partitions).
	ErrPartitionNotFound = errors.New("eventlog: partition not found")

	// ErrOffsetOutOfRange is returned when reading below the log start offset
	// or past the log end offset.
	ErrOffsetOutOfRange = errors.New("eventlog: offset out of range")

	// ErrRecordTooLarge is returned when a record or batch exceeds its
	// partition's MaxBatchBytes (Kafka's max.message.bytes): the topic's
	// TopicConfig.MaxBatchBytes, or Options.MaxBatchBytes; when a batch
	// decompresses to more than its limit; and when a batch's records have
	// more headers than an append takes or a copying read makes (see
	// Partition.Append and Partition.Read).
	ErrRecordTooLarge = errors.New("eventlog: record too large")

	// ErrInvalidRecord is returned for a record the log refuses to store, such
	// as an empty batch.
	ErrInvalidRecord = errors.New("eventlog: invalid record")

	// ErrCorrupt is wrapped by every *CorruptError.
	ErrCorrupt = errors.New("eventlog: corrupt data")

	// ErrUnsupportedCompression is returned for a compression codec the
	// library does not know: Kafka numbers none, gzip, snappy, lz4 and
	// zstd 0 to 4.
	ErrUnsupportedCompression = errors.New("eventlog: unsupported compression codec")
)

// CorruptError reports data on disk that fails validation: a bad checksum, an
// impossible length, a batch that does not follow its predecessor. It names the
// file and the byte position where the damage starts. Use errors.As to get it,
// or errors.Is(err, ErrCorrupt) to test for it.
type CorruptError struct {
	Path   string // file holding the damaged bytes
	Pos    int64  // byte position in Path where the damage starts
	Offset int64  // log offset expected at Pos, or -1 when unknown
	Reason string // what was wrong, e.g. "crc mismatch"
}

// Error names the file, the position and the reason.
func (e *CorruptError) Error() string {
	if e.Offset >= 0 {
		return fmt.Sprintf("eventlog: corrupt data in %s at byte %d (offset %d): %s", e.Path, e.Pos, e.Offset, e.Reason)
	}
	return fmt.Sprintf("eventlog: corrupt data in %s at byte %d: %s", e.Path, e.Pos, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// errorf is fmt.Errorf for the library's errors, whose text starts with
// "eventlog: ". The errors they wrap — the sentinels, the errors of the
// layers below — start so too, and errorf leaves that prefix out of the
// message, so that an error names the package once however many layers
// wrapped it: `eventlog: topic "t" partition 0: record too large: ...`,
// not `eventlog: topic "t" partition 0: eventlog: record too large: ...`.
// Only the errors among args lose their prefix: names and paths are
// quoted as they were given, whatever they hold. errors.Is and errors.As
// see what fmt.Errorf's error wraps.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	var shown []any // args, with the errors' prefixes dropped
	for i, a := range args {
		e, ok := a.(error)
		if !ok || e == nil {
			continue
		}
		if msg := unprefixed(e); len(msg) < len(e.Error()) {
			if shown == nil {
				shown = slices.Clone(args)
			}
			shown[i] = msg
		}
	}
	if shown == nil {
		return err
	}
	// The strings stand in for the errors where %w took them; a message
	// that starts with a wrapped error keeps one prefix.
	msg := fmt.Sprintf(strings.ReplaceAll(format, "%w", "%v"), shown...)
	if full := err.Error(); strings.HasPrefix(full, "eventlog: ") && !strings.HasPrefix(msg, "eventlog: ") {
		msg = "eventlog: " + msg
	}
	return &prefixedError{msg: msg, err: err}
}

// unprefixed returns err's message without the "eventlog: " it starts
// with, if it does.
func unprefixed(err error) string {
	msg := err.Error()
	return strings.TrimPrefix(msg, "eventlog: ")
}

// prefixedError is an error of errorf whose message names the package once.
type prefixedError struct {
	msg string
	err error // what fmt.Errorf made, for Unwrap
}

func (e *prefixedError) Error() string { return e.msg }
func (e *prefixedError) Unwrap() error { return e.err }
