package eventlog

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

// FuzzDecodeBatch feeds arbitrary bytes to the batch reader. Nothing may
// panic. Each input is tried twice: as given, and with its CRC repaired so
// that mutations of the records area get past the checksum and reach the
// record parser. Whenever a batch decodes, its CRC matches, the decoded
// records follow the header, and they survive re-encoding.
//
//	go test -run XXX -fuzz FuzzDecodeBatch -fuzztime 30s
func FuzzDecodeBatch(f *testing.F) {
	records := []Record{
		{Timestamp: time.UnixMilli(1_700_000_000_000), Key: []byte("k"), Value: []byte("v"),
			Headers: []Header{{Key: "h", Value: []byte("hv")}, {Key: "n"}}},
		{Timestamp: time.UnixMilli(1_700_000_000_005), Value: []byte("no key")},
		{Timestamp: time.UnixMilli(1_699_999_999_000), Key: []byte("tombstone")},
		{Timestamp: time.UnixMilli(1_700_000_000_001), Key: []byte{}, Value: []byte{}},
	}
	var e batchEncoder
	for _, c := range testCodecs {
		for _, rs := range [][]Record{records, records[:1]} {
			b, err := e.encode(nil, rs, c)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	plain, err := e.encode(nil, records, CompressionNone)
	if err != nil {
		f.Fatal(err)
	}
	raw := append(bytes.Clone(plain[:batchHeaderSize]), s2.EncodeSnappy(nil, plain[batchHeaderSize:])...)
	raw[batchAttributesPos+1] = byte(CompressionSnappy)
	f.Add(raw)
	f.Add(plain[:batchHeaderSize])
	// A snappy block declaring a gigabyte that its 2 bytes do not make.
	f.Add(hostileBatch(0, 1, CompressionSnappy, append(binary.AppendUvarint(nil, 1<<30-1), 0, 'x')))
	// A zstd frame whose RLE blocks make more than fuzzLimit.
	f.Add(hostileBatch(0, 1, CompressionZstd, zstdRLEFrame(fuzzLimit/zstdMaxBlock+1)))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecode(t, data)
		if len(data) >= batchHeaderSize {
			fixed := bytes.Clone(data)
			if h, err := parseBatchHeader(fixed); err == nil && h.size() <= int64(len(fixed)) {
				fixCRC(fixed[:h.size()])
				checkDecode(t, fixed)
			}
		}
	})
}

// fuzzLimit is the decompression limit of the fuzz target: small, so that
// bombs are caught rather than slowing the fuzzer down.
const fuzzLimit = 1 << 20

// checkDecode runs the read path a segment reader runs (parse, check the
// CRC, decode) on data, plus a decode that skips the CRC check, and checks
// the invariants of whatever decodes.
func checkDecode(t *testing.T, data []byte) {
	h, err := parseBatchHeader(data)
	if err != nil || h.size() > int64(len(data)) {
		return
	}
	b := data[:h.size()]
	crcErr := verifyBatchCRC(b)

	var d batchDecoder
	got, err := d.decode(nil, &h, b, 0, fuzzLimit) // memory-safe without the CRC check
	if err != nil || crcErr != nil {
		return
	}

	// A batch that passes the CRC and decodes is well formed.
	if len(got) != int(h.RecordCount) {
		t.Fatalf("decoded %d records, header says %d", len(got), h.RecordCount)
	}
	for i := range got {
		r := &got[i]
		if r.Offset < h.BaseOffset || r.Offset > h.lastOffset() || (i > 0 && r.Offset <= got[i-1].Offset) {
			t.Fatalf("record %d: offset %d outside [%d, %d] or not increasing", i, r.Offset, h.BaseOffset, h.lastOffset())
		}
		if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
			t.Fatalf("record %d: key or value capacity exceeds its length", i)
		}
	}
	checkViewsAgree(t, &h, b, got)
	from := h.BaseOffset + int64(h.LastOffsetDelta)/2
	tail, err := d.decode(nil, &h, b, from, fuzzLimit)
	if err != nil {
		t.Fatalf("decode from offset %d failed after a full decode succeeded: %v", from, err)
	}
	for _, r := range tail {
		if r.Offset < from {
			t.Fatalf("record at offset %d returned when reading from %d", r.Offset, from)
		}
	}

	// Decoded records survive re-encoding (offsets are renumbered).
	for i := range got {
		if got[i].Timestamp.IsZero() {
			return // an instant the encoder refuses as unset
		}
	}
	var e batchEncoder
	again, err := e.encode(nil, got, CompressionNone)
	if err != nil {
		return // lengths beyond Kafka's 32 bits cannot come from a valid batch, but stay safe
	}
	h2, err := parseBatchHeader(again)
	if err != nil {
		t.Fatalf("re-encoded batch does not parse: %v", err)
	}
	if err := verifyBatchCRC(again); err != nil {
		t.Fatalf("re-encoded batch: %v", err)
	}
	round, err := d.decode(nil, &h2, again, 0, fuzzLimit)
	if err != nil {
		t.Fatalf("re-encoded batch does not decode: %v", err)
	}
	for i := range got {
		w, g := &got[i], &round[i]
		if w.Timestamp.UnixMilli() != g.Timestamp.UnixMilli() || !sameBytes(w.Key, g.Key) || !sameBytes(w.Value, g.Value) || len(w.Headers) != len(g.Headers) {
			t.Fatalf("record %d changed in a round trip", i)
		}
		for j := range w.Headers {
			if w.Headers[j].Key != g.Headers[j].Key || !sameBytes(w.Headers[j].Value, g.Headers[j].Value) {
				t.Fatalf("record %d header %d changed in a round trip", i, j)
			}
		}
	}
}

// sameBytes compares byte slices, nil distinct from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// checkViewsAgree walks a batch that decoded to want as the view cursor
// does, from the start and, with skipBelow, from its middle, and requires
// the same records.
func checkViewsAgree(t *testing.T, h *batchHeader, b []byte, want []Record) {
	var d batchDecoder
	area, err := d.recordsArea(h, b, fuzzLimit)
	if err != nil {
		t.Fatalf("records area: %v", err)
	}
	for _, skip := range []int{0, len(want) / 2} {
		var it recordIter
		if err := it.reset(h, area); err != nil {
			t.Fatalf("reset: %v", err)
		}
		if skip > 0 {
			if err := it.skipBelow(want[skip].Offset); err != nil {
				t.Fatalf("skip to %d: %v", want[skip].Offset, err)
			}
		}
		var f recordFields
		var v RecordView
		for i := skip; ; i++ {
			err := it.next(&f)
			if err == errBatchEnd && i == len(want) {
				break
			}
			if err != nil || i >= len(want) {
				t.Fatalf("view %d of %d: %v", i, len(want), err)
			}
			f.fill(&v, area)
			r := v.Clone()
			w := want[i]
			if r.Offset != w.Offset || !r.Timestamp.Equal(w.Timestamp) || !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) ||
				!bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) || len(r.Headers) != len(w.Headers) {
				t.Fatalf("view %d differs from the decoded record", i)
			}
			for j := range w.Headers {
				if r.Headers[j].Key != w.Headers[j].Key || !bytes.Equal(r.Headers[j].Value, w.Headers[j].Value) || (r.Headers[j].Value == nil) != (w.Headers[j].Value == nil) {
					t.Fatalf("view %d header %d differs", i, j)
				}
			}
		}
	}
}
