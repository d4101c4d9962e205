package eventlog

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unsafe"
)

// RecordView is a record read in place: its Key, Value and headers point
// into the mapped segment file, or, for a compressed batch, into a
// decompression buffer that the read reuses once it has moved on. Reading through views allocates
// nothing per record; it is the fast way to replay a topic.
//
// # Lifetime
//
// A view and every slice or string it hands out are valid only until the
// iterator that yielded it takes its next step or ends: in
//
//	for v, err := range p.Views(0) { ... }
//
// that is until the loop body returns. To keep a record, Clone it, or copy
// the bytes you need (string(v.Key) copies; a map lookup m[string(v.Key)]
// does not allocate). Never write to the slices: they may be the read-only
// mapping of the file, and writing there crashes the process.
//
// Misuse shows in tests with Options.PoisonViews: each view's bytes are
// then copies that are overwritten with 0xDB when the view expires, so a
// slice kept too long reads garbage instead of plausible data.
type RecordView struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte // nil for Kafka's null key
	Value     []byte // nil for a tombstone (null value)

	timestamp   int64  // ms
	headers     []byte // the encoded headers, after their count; nil without headers
	headerCount int
}

// Timestamp returns the record's timestamp, with Kafka's millisecond
// precision. It is computed when asked, which a replay that does not need
// it is the faster for.
func (v *RecordView) Timestamp() time.Time { return time.UnixMilli(v.timestamp) }

// HeaderCount returns the number of headers of the record.
func (v *RecordView) HeaderCount() int { return v.headerCount }

// Headers returns an iterator over the record's headers, in order. The key
// and value share the view's lifetime: the key string aliases the view's
// bytes, so keep a copy (strings.Clone) of one you need later. A nil value
// is a null header value.
func (v *RecordView) Headers() iter.Seq2[string, []byte] {
	return func(yield func(string, []byte) bool) {
		b, p := v.headers, 0
		for range v.headerCount {
			// The headers were validated when the view was made.
			kl, q := readVarint(b, p)
			key := unsafe.String(unsafe.SliceData(b[q:]), int(kl))
			vl, q := readVarint(b, q+int(kl))
			var value []byte
			if vl >= 0 {
				value = b[q : q+int(vl) : q+int(vl)]
			}
			p = q + max(int(vl), 0)
			if !yield(key, value) {
				return
			}
		}
	}
}

// Clone returns a copy of the record that owns its memory, as the copying
// reads return it. Key, Value and the header values share one allocation.
// Each header costs a Header (40 bytes on 64-bit platforms) besides, however
// little it takes in the batch (2 bytes for an empty one): on records it
// does not trust, a reader checks HeaderCount before it clones. No append
// stores a record of more than 26,843,545 headers; Consumer.Records and
// ReadToEnd refuse to clone one (see Partition.Read).
func (v *RecordView) Clone() Record {
	r := Record{Topic: v.Topic, Partition: v.Partition, Offset: v.Offset, Timestamp: v.Timestamp()}
	n := len(v.Key) + len(v.Value)
	if v.headerCount > 0 {
		n += len(v.headers)
	}
	buf := make([]byte, 0, n)
	r.Key, buf = cloneInto(buf, v.Key)
	r.Value, buf = cloneInto(buf, v.Value)
	if v.headerCount > 0 {
		r.Headers = make([]Header, 0, v.headerCount)
		for key, value := range v.Headers() {
			h := Header{Key: strings.Clone(key)} // key aliases the view
			h.Value, buf = cloneInto(buf, value)
			r.Headers = append(r.Headers, h)
		}
	}
	return r
}

// cloneInto appends b to buf, whose capacity must suffice, and returns the
// copy, capped so that appending to it cannot overwrite what follows, and
// the extended buf. nil stays nil.
func cloneInto(buf, b []byte) ([]byte, []byte) {
	if b == nil {
		return nil, buf
	}
	n := len(buf)
	buf = append(buf, b...)
	return buf[n:len(buf):len(buf)], buf
}

// recordFields is where one record's parts lie in its batch's records area.
type recordFields struct {
	offset    int64
	timestamp int64 // ms
	start     int   // first byte of the record, its length prefix
	keyAt     int
	keyLen    int // -1: null
	valueAt   int
	valueLen  int // -1: null
	headersAt int // after the header count
	headers   int // header count
	end       int // after the record
}

// recordIter walks the records of one batch, checking each as it goes: it
// is the only parser of records, shared by the views, the copying decoder
// and everything built on them. The batch's header must have been parsed
// (parseBatchHeader); recordIter is memory-safe on any records area, so it
// does not need the CRC to have been checked.
type recordIter struct {
	area       []byte
	p          int   // read position in area
	index      int   // of the next record
	count      int   // records the header declares
	prevDelta  int64 // offset delta of the previous record
	lastDelta  int64
	baseOffset int64
	baseTime   int64
	appendTime int64 // LogAppendTime: every record's timestamp; -1 for CreateTime
}

// errBatchEnd ends recordIter.next at a clean end of the batch.
var errBatchEnd = errors.New("end of batch")

// reset starts walking area, the records area of the batch h heads, after
// decompression.
func (it *recordIter) reset(h *batchHeader, area []byte) error {
	count := int(h.RecordCount)
	if count < 0 || count > len(area)/minRecordSize {
		return fmt.Errorf("record count %d does not fit in %d bytes of records", count, len(area))
	}
	*it = recordIter{
		area: area, count: count, prevDelta: -1, lastDelta: int64(h.LastOffsetDelta),
		baseOffset: h.BaseOffset, baseTime: h.BaseTimestamp, appendTime: -1,
	}
	if h.Attributes&attrLogAppendTime != 0 {
		it.appendTime = h.MaxTimestamp
	}
	return nil
}

// next parses the next record into f. After the last record it returns
// errBatchEnd, or an error if bytes follow it.
//
// Every varint is read by shortVarint, inlined, before readVarint, which
// Go does not inline: a call per field was a fifth of a scan.
func (it *recordIter) next(f *recordFields) error {
	if it.index == it.count {
		if it.p != len(it.area) {
			return fmt.Errorf("%d trailing bytes after %d records", len(it.area)-it.p, it.count)
		}
		return errBatchEnd
	}
	area := it.area
	recLen, k := shortVarint(area, it.p)
	p := it.p + k
	if k == 0 {
		recLen, p = readVarint(area, it.p)
	}
	if p < 0 || recLen < minRecordSize-1 || recLen > int64(len(area)-p) {
		return it.failed("bad record length")
	}
	f.start, f.end = it.p, p+int(recLen)
	rec := area[:f.end] // bounds every read of this record
	p++                 // attributes: unused
	var tsDelta, offDelta, n int64
	if tsDelta, k = shortVarint(rec, p); k > 0 {
		p += k
	} else if tsDelta, p = readVarint(rec, p); p < 0 {
		return it.failed("bad timestamp delta")
	}
	if offDelta, k = shortVarint(rec, p); k > 0 {
		p += k
	} else {
		offDelta, p = readVarint(rec, p)
	}
	if p < 0 || offDelta <= it.prevDelta || offDelta > it.lastDelta {
		return it.failed("offset delta out of order or out of range")
	}
	if n, k = shortVarint(rec, p); k > 0 {
		p += k
	} else {
		n, p = readVarint(rec, p)
	}
	if p < 0 || n < -1 || n > int64(len(rec)-p) {
		return it.failed("bad key length")
	}
	f.keyAt, f.keyLen = p, int(n)
	p += max(int(n), 0)
	if n, k = shortVarint(rec, p); k > 0 {
		p += k
	} else {
		n, p = readVarint(rec, p)
	}
	if p < 0 || n < -1 || n > int64(len(rec)-p) {
		return it.failed("bad value length")
	}
	f.valueAt, f.valueLen = p, int(n)
	p += max(int(n), 0)
	// The header count is most often the record's last byte, where
	// shortVarint, which needs a byte after it, does not apply.
	if p == len(rec)-1 && rec[p] == 0 {
		f.headersAt, f.headers = f.end, 0
	} else if err := it.headers(f, rec, p); err != nil {
		return err
	}
	f.offset = it.baseOffset + offDelta
	f.timestamp = it.appendTime
	if f.timestamp < 0 {
		f.timestamp = it.baseTime + tsDelta
	}
	it.p, it.prevDelta = f.end, offDelta
	it.index++
	return nil
}

// headers parses the header count and headers of rec at p, which must end
// exactly at the record's end.
func (it *recordIter) headers(f *recordFields, rec []byte, p int) error {
	var n int64
	if n, p = readVarint(rec, p); p < 0 || n < 0 || n > int64(len(rec)-p)/2 {
		return it.failed("bad header count")
	}
	f.headersAt, f.headers = p, int(n)
	for range f.headers {
		if n, p = readVarint(rec, p); p < 0 || n < 0 || n > int64(len(rec)-p) {
			return it.failed("bad header key length")
		}
		p += int(n)
		if n, p = readVarint(rec, p); p < 0 || n < -1 || n > int64(len(rec)-p) {
			return it.failed("bad header value length")
		}
		p += max(int(n), 0)
	}
	if p != f.end {
		return it.failed("record length mismatch")
	}
	return nil
}

// shortVarint decodes a zigzag varint of one or two bytes at b[i], with a
// byte after it in b, and returns it with its size; size 0 means it is
// something else, for readVarint to decode. It is small enough for Go to
// inline.
func shortVarint(b []byte, i int) (int64, int) {
	if uint(i+1) < uint(len(b)) {
		u := uint64(b[i])
		if u < 0x80 {
			return int64(u>>1) ^ -int64(u&1), 1
		}
		u = u&0x7f | uint64(b[i+1])<<7
		if u < 1<<14 {
			return int64(u>>1) ^ -int64(u&1), 2
		}
	}
	return 0, 0
}

// skipBelow passes over the records whose offsets are below offset,
// reading only their lengths, attributes, timestamp and offset deltas: what
// a read from the middle of a batch need not decode. It reports damage in
// what it reads; the rest of a skipped record is left unchecked, as it is
// never handed out.
func (it *recordIter) skipBelow(offset int64) error {
	for it.index < it.count && it.baseOffset+it.prevDelta+1 < offset {
		recLen, p := readVarint(it.area, it.p)
		if p < 0 || recLen < minRecordSize-1 || recLen > int64(len(it.area)-p) {
			return it.failed("bad record length")
		}
		end := p + int(recLen)
		rec := it.area[:end]
		var offDelta int64
		if _, p = readVarint(rec, p+1); p >= 0 {
			offDelta, p = readVarint(rec, p)
		}
		if p < 0 || offDelta <= it.prevDelta || offDelta > it.lastDelta {
			return it.failed("offset delta out of order or out of range")
		}
		if it.baseOffset+offDelta >= offset {
			return nil // the record is wanted: next decodes it whole
		}
		it.p, it.prevDelta = end, offDelta
		it.index++
	}
	return nil
}

func (it *recordIter) failed(reason string) error {
	return fmt.Errorf("record %d: %s", it.index, reason)
}

// fill points v at the record f of area.
func (f *recordFields) fill(v *RecordView, area []byte) {
	v.Offset, v.timestamp = f.offset, f.timestamp
	v.Key = subslice(area, f.keyAt, f.keyLen)
	v.Value = subslice(area, f.valueAt, f.valueLen)
	v.headers, v.headerCount = nil, f.headers
	if f.headers > 0 {
		v.headers = area[f.headersAt:f.end:f.end]
	}
}

// subslice returns the n bytes of b at i, capped, or nil when n is -1.
func subslice(b []byte, i, n int) []byte {
	if n < 0 {
		return nil
	}
	return b[i : i+n : i+n]
}
