package eventlog

import (
	"errors"
	"fmt"
)

// Conditional appends give event-sourced code optimistic concurrency, as
// EventStoreDB's expected revision and NATS JetStream's expected last
// sequence do: an append that names the log end offset it expects is
// stored only if the partition still ends there, so two writers that read
// the same state cannot both extend it. The check is made under the
// partition's append lock, after every append ahead of it has taken its
// offsets, so it holds however many goroutines append at once; a refused
// append stores nothing and costs the appends around it nothing.

// ErrUnexpectedOffset is wrapped by every *UnexpectedOffsetError: a
// conditional append found the partition's log end offset not where it
// expected it.
var ErrUnexpectedOffset = errors.New("eventlog: unexpected log end offset")

// UnexpectedOffsetError is returned by an append made with IfEndOffset
// when the partition's log end offset was not the expected one; nothing of
// the append was stored. Actual is the log end offset the append found:
// read the records up to it (Partition.Wait, then Read or Views), decide
// again, and retry expecting Actual. Test for it with errors.As, or with
// errors.Is(err, ErrUnexpectedOffset).
type UnexpectedOffsetError struct {
	Topic     string
	Partition int32
	Expected  int64 // the log end offset the append expected
	Actual    int64 // the log end offset it found
}

// Error names the partition and both offsets.
func (e *UnexpectedOffsetError) Error() string {
	return fmt.Sprintf("eventlog: topic %q partition %d: append expected log end offset %d, found %d", e.Topic, e.Partition, e.Expected, e.Actual)
}

// Unwrap makes errors.Is(err, ErrUnexpectedOffset) true.
func (e *UnexpectedOffsetError) Unwrap() error { return ErrUnexpectedOffset }

// EndOffsetCondition makes an append conditional on the partition's log end
// offset. The zero value is no condition; IfEndOffset makes one.
type EndOffsetCondition struct {
	offset int64
	set    bool
}

// IfEndOffset returns the condition that the partition's log end offset is
// offset when the append is stored — that the append's first record gets
// offset offset. IfEndOffset(0) appends only to an empty partition.
func IfEndOffset(offset int64) EndOffsetCondition {
	return EndOffsetCondition{offset: offset, set: true}
}

// Offset returns the expected log end offset, and false for no condition.
func (c EndOffsetCondition) Offset() (int64, bool) { return c.offset, c.set }

// check refuses an append at end, the partition's log end offset, that the
// condition rules out.
func (c EndOffsetCondition) check(p *Partition, end int64) error {
	if !c.set || c.offset == end {
		return nil
	}
	return &UnexpectedOffsetError{Topic: p.topic, Partition: p.id, Expected: c.offset, Actual: end}
}

// validate refuses a condition no partition can meet.
func (c EndOffsetCondition) validate(p *Partition) error {
	if c.set && c.offset < 0 {
		return p.errorf("%w: expected log end offset %d is negative", ErrInvalidConfig, c.offset)
	}
	return nil
}

// appendChecks are what Partition.write checks under the append lock,
// besides the producer fields the batch carries (producer_state.go).
type appendChecks struct {
	// keyless says that a record of the batch has a null key: the write is
	// refused if the topic became compacted since the caller checked.
	keyless bool
	// condition is the batch's EndOffsetCondition.
	condition EndOffsetCondition
	// transactionalID is the transactional ID of the batch's producer,
	// when the writer knows it, for the partition's errors to name: the
	// batch itself carries only the producer id and epoch.
	transactionalID string
}
