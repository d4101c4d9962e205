package eventlog

import (
	"runtime"
	"sync/atomic"
)

// Cursor reads a partition's records in place, one step at a time, as
// Views does, for code that pulls records rather than ranging over them:
// a merge of several partitions in timestamp order, a reader that stops
// and goes on where it stopped, or a replay loop that wants the last few
// percent (a step of a Cursor costs one call where a Views loop's costs
// two, one of them indirect; BENCHMARKS.md, issue 8).
//
//	c := p.Cursor(p.LogStartOffset())
//	defer c.Close()
//	for c.Next() {
//		v := c.View()
//		state.apply(v.Key, v.Value) // copy what you keep
//	}
//	if err := c.Err(); err != nil {
//		return err
//	}
//
// Next returns false at the high watermark with Err nil (View is then
// nil); a later Next goes on from there with the records appended
// meanwhile. Like Views, a Cursor reads uncommitted: the records of open
// and aborted transactions included, markers not. It returns false with Err set, for good, when the position
// lies outside the log (ErrOffsetOutOfRange), when the Log closes
// (ErrClosed), or at damaged data (*CorruptError). The view View returns,
// and every slice and string it hands out, is valid until the next Next or
// Close (see "Reading in place" in the package documentation);
// Options.PoisonViews poisons expired views
// as it does for Views.
//
// Close lets go of the segment the cursor reads and of its read-ahead
// verifier, a goroutine that checks CRCs on another core and of which the
// Log runs one per core beyond the first: close a cursor as soon as you are
// done with it, or later scans go without one until the garbage collector
// finds the cursor. A Cursor is not safe for use by several goroutines at
// once.
type Cursor struct {
	// vc is apart from the Cursor so that a cleanup can close it once the
	// Cursor is unreachable; nil once the cursor is closed.
	vc  *viewCursor
	err error
	// atEnd: the last Next returned false at the high watermark, and the
	// view it had made may point into a segment let go since.
	atEnd bool
	// cleanup closes vc should the Cursor be dropped unclosed.
	cleanup runtime.Cleanup
}

// Cursor returns a cursor positioned before the record at offset. An
// offset outside the log is reported by the first Next, through Err.
func (p *Partition) Cursor(offset int64) *Cursor {
	if !p.log.enter() {
		return &Cursor{err: ErrClosed}
	}
	vc := &viewCursor{}
	err := vc.start(p, offset)
	p.log.exit()
	if err != nil {
		return &Cursor{err: err}
	}
	c := &Cursor{vc: vc}
	c.cleanup = runtime.AddCleanup(c, closeDroppedCursor, vc)
	return c
}

// Next moves to the next record and reports whether there is one: false
// at the high watermark, or for good once an error ended the cursor (see
// Err) or Close did.
func (c *Cursor) Next() bool {
	vc := c.vc
	if vc == nil || vc.at >= len(vc.parsed) || vc.poison.on {
		return c.nextSlow()
	}
	// A record of the current batch's table, most of a long scan: filled
	// here rather than by parsedRecord.fill, saving a call per record.
	r := &vc.parsed[vc.at]
	vc.at++
	v, area := &vc.view, vc.area
	v.Offset, v.timestamp = vc.batches.h.BaseOffset+int64(r.offsetDelta), vc.timeBase+int64(r.tsDelta)
	v.Key, v.Value = nil, nil
	if n := int(r.keyLen); n >= 0 {
		i := int(r.keyAt)
		v.Key = area[i : i+n : i+n]
	}
	if n := int(r.valueLen); n >= 0 {
		i := int(r.valueAt)
		v.Value = area[i : i+n : i+n]
	}
	if r.headersAt < 0 {
		r.fillHeaders(v, area)
	} else if v.headerCount != 0 {
		v.headers, v.headerCount = nil, 0
	}
	return true
}

// nextSlow is Next for all but a table's records: it moves to the next
// batch, or parses records itself.
func (c *Cursor) nextSlow() bool {
	if c.vc == nil {
		return false
	}
	v, err := c.vc.next()
	if err != nil {
		c.err = err
		c.Close()
		return false
	}
	c.atEnd = v == nil
	return !c.atEnd
}

// View returns the record the last Next moved to. It is valid until the
// next Next or Close; nil when the last Next returned false.
func (c *Cursor) View() *RecordView {
	if c.vc == nil || c.atEnd {
		return nil
	}
	return &c.vc.view
}

// Err returns the error that ended the cursor, or nil.
func (c *Cursor) Err() error { return c.err }

// Close lets go of what the cursor holds; the last view expires, and Next
// returns false from then on. Close may be called more than once.
func (c *Cursor) Close() {
	if c.vc == nil {
		return
	}
	c.cleanup.Stop()
	c.vc.close()
	c.vc = nil
}

// cursorDropped, when set (by tests), is called after the cleanup of a
// Cursor dropped unclosed.
var cursorDropped atomic.Pointer[func()]

// closeDroppedCursor closes the view cursor of a Cursor the garbage
// collector found unreachable and unclosed.
func closeDroppedCursor(vc *viewCursor) {
	vc.close()
	if f := cursorDropped.Load(); f != nil {
		(*f)()
	}
}
