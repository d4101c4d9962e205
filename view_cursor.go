package eventlog

import (
	"runtime"
	"sync/atomic"
)

// Cursor reads a partition's records in place, one step at a time, as
// Views does, for code that pulls records rather than ranging over them:
// a merge of several partitions in timestamp order, a reader that stops
// and goes on where it stopped, or the fastest replay loop there is:
//
//	c := p.Cursor(p.LogStartOffset())
//	defer c.Close()
//	for c.Next() {
//		state.apply(c.Key(), c.Value()) // copy what you keep
//	}
//	if err := c.Err(); err != nil {
//		return err
//	}
//
// Key, Value and Offset read the current record without making its view:
// Go inlines them and Next, so that such a loop makes no call for most
// records, where a Views loop makes two, one of them indirect (12–14%
// faster than Views in the one-process scan of BENCHMARKS.md, issue 8).
// View makes the whole view, with the timestamp and headers.
//
// Next returns false at the high watermark with Err nil (View, Key and
// Value are then nil, Offset -1); a later Next goes on from there with the
// records appended meanwhile. Like Views, a Cursor reads uncommitted: the
// records of open and aborted transactions included, markers not. It
// returns false with Err set, for good, when the position lies outside the
// log (ErrOffsetOutOfRange), when the Log closes (ErrClosed), or at
// damaged data (*CorruptError). The view View returns, every slice and
// string it hands out, and the slices Key and Value return, are valid
// until the next Next or Close (see "Reading in place" in the package
// documentation); Options.PoisonViews poisons expired views as it does
// for Views.
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
	vc *viewCursor
	// kv and meta are what is left of the current batch's table
	// (vc.parsed from vc.at on, which Next moves along here) while no view
	// is poisoned.
	kv   []kvEntry
	meta []metaEntry
	// at is the index in kv of the record after the current one, whose
	// entry Next took without making its view, and n is len(kv); at is 0
	// when key, value and offset hold the current record, as its view
	// does.
	at, n      int
	area       []byte // the records area kv points into
	base       int64  // the base offset of its batch
	key, value []byte
	offset     int64
	err        error
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
	// Most records of a long scan: the next entry of the current batch's
	// table, whose view is made only if asked for (View).
	if c.at < c.n {
		c.at++
		return true
	}
	return c.nextSlow()
}

// nextSlow is Next for all but a table's records: it moves to the next
// batch, or parses records itself.
func (c *Cursor) nextSlow() bool {
	c.at, c.n, c.key, c.value, c.offset = 0, 0, nil, nil, -1
	vc := c.vc
	if vc == nil {
		return false
	}
	v, err := vc.next()
	if err != nil {
		c.err = err
		c.Close()
		return false
	}
	c.atEnd = v == nil
	if c.atEnd {
		return false
	}
	c.key, c.value, c.offset = v.Key, v.Value, v.Offset
	if !vc.poison.on {
		// Next takes the rest of the table from here, and vc.next goes on
		// after it.
		rest := vc.parsed.from(vc.at)
		c.kv, c.meta, c.n, vc.at = rest.kv, rest.meta, rest.len(), vc.parsed.len()
		c.area, c.base = vc.area, vc.batches.h.BaseOffset
	}
	return true
}

// View returns the record the last Next moved to. It is valid until the
// next Next or Close; nil when the last Next returned false.
func (c *Cursor) View() *RecordView {
	vc := c.vc
	if vc == nil || c.atEnd {
		return nil
	}
	v := &vc.view
	if c.at == 0 {
		return v // made by vc.next
	}
	// Made here rather than by recordTable.fill, saving a call a record.
	r, m, area := &c.kv[c.at-1], &c.meta[c.at-1], c.area
	v.Offset, v.timestamp = c.base+int64(m.offsetDelta), vc.timeBase+int64(m.tsDelta)
	v.Key, v.Value = nil, nil
	if n := int(r.keyLen); n >= 0 {
		i := int(r.keyAt)
		v.Key = area[i : i+n : i+n]
	}
	if n := int(r.valueLen); n >= 0 {
		i := int(r.valueAt)
		v.Value = area[i : i+n : i+n]
	}
	if m.headersAt < 0 {
		m.fillHeaders(v, area)
	} else if v.headerCount != 0 {
		v.headers, v.headerCount = nil, 0
	}
	return v
}

// Key returns the key of the record the last Next moved to, as View().Key
// does, without making the view: nil for a null key, and nil when the
// last Next returned false. It is valid until the next Next or Close.
func (c *Cursor) Key() []byte {
	if c.at > 0 {
		r := &c.kv[c.at-1]
		return subslice(c.area, int(r.keyAt), int(r.keyLen))
	}
	return c.key
}

// Value returns the value of the record the last Next moved to, as
// View().Value does, without making the view: nil for a tombstone, and
// nil when the last Next returned false. It is valid until the next Next
// or Close.
func (c *Cursor) Value() []byte {
	if c.at > 0 {
		r := &c.kv[c.at-1]
		return subslice(c.area, int(r.valueAt), int(r.valueLen))
	}
	return c.value
}

// Offset returns the offset of the record the last Next moved to, or -1
// when the last Next returned false.
func (c *Cursor) Offset() int64 {
	if c.at > 0 {
		return c.base + int64(c.meta[c.at-1].offsetDelta)
	}
	return c.offset
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
	c.vc, c.kv, c.meta, c.at, c.n, c.area = nil, nil, nil, 0, 0, nil
	c.key, c.value, c.offset = nil, nil, -1
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
