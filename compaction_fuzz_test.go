package eventlog

import (
	"testing"
	"time"
)

// FuzzCompactFilterBatch feeds the cleaner's record filter arbitrary
// batches (the checksum is not checked there: batchAt did before). It must
// not panic, and a batch it rebuilds must be a valid batch holding a subset
// of the input's records, at the same offsets and timestamps.
func FuzzCompactFilterBatch(f *testing.F) {
	ts := time.UnixMilli(1_700_000_000_000)
	for _, c := range testCodecs {
		var enc batchEncoder
		b, err := enc.encode(nil, []Record{
			{Key: []byte("a"), Value: []byte("1"), Timestamp: ts},
			{Key: []byte("b"), Timestamp: ts.Add(time.Second)},
			{Key: []byte("a"), Value: []byte("2"), Timestamp: ts.Add(-time.Second), Headers: []Header{{Key: "h"}}},
			{Value: []byte("no key"), Timestamp: ts},
		}, c)
		if err != nil {
			f.Fatal(err)
		}
		setBaseOffset(b, 10)
		f.Add(b, int64(12), ts.UnixMilli())
		f.Add(b, int64(100), ts.UnixMilli())
	}
	f.Fuzz(func(t *testing.T, b []byte, mapEnd, now int64) {
		h, err := parseBatchHeader(b)
		if err != nil || h.size() > int64(len(b)) {
			return
		}
		p := &Partition{}
		p.settings.Store(&partitionConfig{maxBatchBytes: 1 << 16, deleteRetention: time.Hour})
		r := &cleanRun{p: p, now: now, horizon: -1}
		m := newOffsetMap(nil, 1<<16, 16, 8, defaultKeyHash)
		var in []Record
		var dec batchDecoder
		in, err = dec.decode(in, &h, b, 0, 1<<20)
		if err != nil {
			return // the decoder refuses it; the cleaner may or may not
		}
		for _, rec := range in {
			if rec.Key != nil {
				m.put(rec.Key, defaultKeyHash(rec.Key), rec.Offset)
			}
		}
		out, changed, err := r.filterBatch(&h, b, m, mapEnd)
		if err != nil || out == nil || !changed {
			return
		}
		oh, err := parseBatchHeader(out)
		if err != nil {
			t.Fatalf("rebuilt batch does not parse: %v", err)
		}
		if err := verifyBatchCRC(out); err != nil {
			t.Fatalf("rebuilt batch: %v", err)
		}
		if oh.BaseOffset != h.BaseOffset || oh.LastOffsetDelta != h.LastOffsetDelta {
			t.Fatalf("offsets changed: [%d+%d] became [%d+%d]", h.BaseOffset, h.LastOffsetDelta, oh.BaseOffset, oh.LastOffsetDelta)
		}
		kept, err := dec.decode(nil, &oh, out, 0, 1<<20)
		if err != nil {
			t.Fatalf("rebuilt batch does not decode: %v", err)
		}
		i := 0
		for _, k := range kept {
			for i < len(in) && in[i].Offset != k.Offset {
				i++
			}
			if i == len(in) {
				t.Fatalf("record at %d was not in the input", k.Offset)
			}
			w := in[i]
			if !w.Timestamp.Equal(k.Timestamp) || string(w.Key) != string(k.Key) || string(w.Value) != string(k.Value) || (w.Value == nil) != (k.Value == nil) {
				t.Fatalf("record at %d changed: %+v became %+v", k.Offset, w, k)
			}
		}
	})
}
