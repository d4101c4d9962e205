package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// White-box fuzz tests of recovery: they check what Open keeps against the
// package's own batch parser.
//
//	go test -run '^$' -fuzz '^FuzzRecovery$' -fuzztime 1m
//	go test -run '^$' -fuzz '^FuzzIndexFiles$' -fuzztime 1m

const fuzzLogDir = "/d"

// fuzzLog is a small crashed log built with the real API: three segments of
// a one-partition topic, records of every codec, timestamps that go back and
// forth.
type fuzzLog struct {
	files   map[string][]byte // every file but LOCK, by path
	segs    []string          // the .log files, in order
	records []Record          // everything the partition holds
}

func (f *fuzzLog) last() string { return f.segs[len(f.segs)-1] }

func fuzzOptions(fsys FS, repair bool) *Options {
	return &Options{
		FS:                 fsys,
		SegmentBytes:       1024,
		IndexIntervalBytes: 100,
		Now:                func() time.Time { return testTime },
		Repair:             repair,
	}
}

var buildFuzzLog = sync.OnceValues(func() (*fuzzLog, error) {
	fsys := NewMemFS()
	l, err := Open(fuzzLogDir, fuzzOptions(fsys, false))
	if err != nil {
		return nil, err
	}
	if err := l.CreateTopic("f", TopicConfig{}); err != nil {
		return nil, err
	}
	p, err := l.Partition("f", 0)
	if err != nil {
		return nil, err
	}
	for i := range 20 {
		recs := make([]Record, 1+i%3)
		for j := range recs {
			recs[j] = Record{
				Key:       []byte(fmt.Sprintf("k%d", i%4)),
				Value:     []byte(fmt.Sprintf("value %d.%d %s", i, j, strings.Repeat("v", i*3))),
				Timestamp: testTime.Add(time.Duration((i*7)%11*1000+j) * time.Millisecond),
			}
			if j == 1 {
				recs[j].Headers = []Header{{Key: "h", Value: []byte("x")}}
			}
		}
		if i == 5 {
			recs[0].Value = nil // a tombstone
		}
		if _, err := p.Append(context.Background(), recs, AppendOptions{Compression: testCodecs[i%len(testCodecs)]}); err != nil {
			return nil, err
		}
	}
	f := &fuzzLog{files: map[string][]byte{}}
	for off := int64(0); off < p.HighWatermark(); {
		recs, err := p.Read(off, 1<<20)
		if err != nil {
			return nil, err
		}
		f.records = append(f.records, recs...)
		off = recs[len(recs)-1].Offset + 1
	}
	// The checkpointer's recovery point covers every record; a clean Close
	// then writes the active segment's indexes and the marker.
	if err := l.checkpointAll(); err != nil {
		return nil, err
	}
	if err := l.Close(); err != nil {
		return nil, err
	}
	if f.files, err = memFSFiles(fsys); err != nil {
		return nil, err
	}
	for p := range f.files {
		if strings.HasSuffix(p, logExt) {
			f.segs = append(f.segs, p)
		}
	}
	slices.Sort(f.segs)
	if len(f.segs) < 3 {
		return nil, fmt.Errorf("want 3 segments or more, have %v", f.segs)
	}
	return f, nil
})

func fuzzLogFor(tb testing.TB) *fuzzLog {
	f, err := buildFuzzLog()
	require.NoError(tb, err)
	return f
}

// memFSFiles returns every file of fsys but LOCK, by path.
func memFSFiles(fsys *MemFS) (map[string][]byte, error) {
	files := map[string][]byte{}
	var walk func(dir string) error
	walk = func(dir string) error {
		names, err := fsys.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, name := range names {
			p := path.Join(dir, name)
			info, err := fsys.Stat(p)
			if err != nil {
				return err
			}
			switch {
			case info.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case name != lockFileName:
				if files[p], err = fsys.ReadFile(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return files, walk("/")
}

// install writes the log's files into a fresh MemFS, replaced by those in
// replace (nil content: the file is left out).
func (f *fuzzLog) install(tb testing.TB, replace map[string][]byte) *MemFS {
	return installFiles(tb, f.files, replace)
}

// installFiles writes files into a fresh MemFS, replaced by those in
// replace (nil content: the file is left out).
func installFiles(tb testing.TB, files, replace map[string][]byte) *MemFS {
	fsys := NewMemFS()
	for p, data := range files {
		if r, ok := replace[p]; ok {
			if r == nil {
				continue
			}
			data = r
		}
		require.NoError(tb, fsys.MkdirAll(path.Dir(p), 0o755))
		require.NoError(tb, fsys.WriteFile(p, data, 0o644))
	}
	for p, data := range replace {
		if _, ok := files[p]; !ok && data != nil {
			require.NoError(tb, fsys.WriteFile(p, data, 0o644))
		}
	}
	return fsys
}

// Flags of FuzzRecovery.
const (
	fuzzUnclean   = 1 << iota // remove the clean-shutdown marker: recovery scans
	fuzzNoIndexes             // remove the last segment's index files
	fuzzFixCRCs               // give every batch in the input a valid CRC
	fuzzRepair                // open with Options.Repair
)

// FuzzRecovery makes the fuzzer's bytes the last segment of a log (with its
// .index and .timeindex) and opens it. Open must not panic; it either fails
// with a *CorruptError, changing nothing, or succeeds having only cut the
// segment, which then holds nothing but batches with valid CRCs. Every
// record read back comes from those batches, at strictly increasing
// offsets, and a second Open finds the same.
func FuzzRecovery(f *testing.F) {
	base := fuzzLogFor(f)
	last := base.files[base.last()]
	index := base.files[strings.TrimSuffix(base.last(), logExt)+indexExt]
	timeIndex := base.files[strings.TrimSuffix(base.last(), logExt)+timeIndexExt]
	batches := batchEnds(last)
	require.Greater(f, len(batches), 2)
	for _, flags := range []byte{0, fuzzUnclean, fuzzUnclean | fuzzNoIndexes, fuzzRepair} {
		f.Add(last, index, timeIndex, flags)
		for _, cut := range []int{1, 12, batchHeaderSize, batches[0] + 7, batches[1] - 1} {
			f.Add(last[:len(last)-cut], index, timeIndex, flags)
		}
		zeroed := bytes.Clone(last)
		clear(zeroed[batches[0]+20:])
		f.Add(zeroed, index, timeIndex, flags)
		f.Add(append(bytes.Clone(last), make([]byte, 300)...), index, timeIndex, flags)
		flipped := bytes.Clone(last)
		flipped[batches[0]+30] ^= 0x40 // inside the second batch; good batches follow
		f.Add(flipped, index, timeIndex, flags)
		f.Add(append(bytes.Clone(last), last[:batches[0]]...), index, timeIndex, flags|fuzzFixCRCs)
	}
	f.Add([]byte{}, []byte{}, []byte{}, byte(0))
	f.Add(base.files[base.segs[0]], index, timeIndex, byte(fuzzUnclean))

	f.Fuzz(func(t *testing.T, logData, index, timeIndex []byte, flags byte) {
		if len(logData) > 64<<10 || len(index) > 4<<10 || len(timeIndex) > 4<<10 {
			t.Skip("keep each run fast")
		}
		checkRecovery(t, base, logData, index, timeIndex, flags)
	})
}

// batchEnds returns the end positions of the good batches at the start of
// data.
func batchEnds(data []byte) []int {
	var ends []int
	for pos := int64(0); pos < int64(len(data)); {
		h, _, err := batchAt(data, pos)
		if err != nil {
			break
		}
		pos += h.size()
		ends = append(ends, int(pos))
	}
	return ends
}

// fixCRCs gives every batch that parses in data a valid CRC, so that the
// fuzzer's changes to lengths, offsets and records reach further than the
// checksum.
func fixCRCs(data []byte) {
	for pos := int64(0); pos+batchHeaderSize <= int64(len(data)); {
		h, err := parseBatchHeader(data[pos:])
		if err != nil || pos+h.size() > int64(len(data)) {
			return
		}
		fixCRC(data[pos : pos+h.size()])
		pos += h.size()
	}
}

func checkRecovery(t *testing.T, base *fuzzLog, logData, index, timeIndex []byte, flags byte) {
	lastLog := base.last()
	stem := strings.TrimSuffix(lastLog, logExt)
	logData = bytes.Clone(logData)
	if flags&fuzzFixCRCs != 0 {
		fixCRCs(logData)
	}
	replace := map[string][]byte{lastLog: logData, stem + indexExt: index, stem + timeIndexExt: timeIndex}
	if flags&fuzzNoIndexes != 0 {
		replace[stem+indexExt], replace[stem+timeIndexExt] = nil, nil
	}
	if flags&fuzzUnclean != 0 {
		replace[path.Join(fuzzLogDir, cleanMarkerName)] = nil
	}
	repair := flags&fuzzRepair != 0
	fsys := base.install(t, replace)

	l, err := Open(fuzzLogDir, fuzzOptions(fsys, repair))
	if err != nil {
		var ce *CorruptError
		require.ErrorAs(t, err, &ce, "Open fails only for damage")
		assert.Equal(t, lastLog, ce.Path)
		require.False(t, repair, "Repair cuts what Open would refuse: %v", err)
		after, rerr := fsys.ReadFile(lastLog)
		require.NoError(t, rerr)
		require.True(t, bytes.Equal(logData, after), "a refused Open changes nothing")
		return
	}
	kept, err := fsys.ReadFile(lastLog)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(logData, kept), "recovery only cuts: kept %d of %d bytes, not a prefix", len(kept), len(logData))

	// What the kept segment holds, by the package's own parser: whole
	// batches with valid CRCs at increasing offsets. After a clean shutdown
	// Open checks only the batches after the last index entry, and after a
	// crash those after the last index entry before the recovery point, as
	// it does not check closed segments: damage before is found by reads.
	lastBase, ok := parseSegmentName(path.Base(lastLog), logExt)
	require.True(t, ok)
	var want []Record
	var dec batchDecoder
	undecodable, damaged := false, false
	next := lastBase
	for pos := int64(0); pos < int64(len(kept)); {
		h, b, err := batchAt(kept, pos)
		if err == nil && h.BaseOffset < next {
			err = fmt.Errorf("batch offsets go back from %d to %d", next, h.BaseOffset)
		}
		if err != nil {
			rs := l.Recovery()
			require.True(t, rs.CleanShutdown || pos < int64(len(kept))-rs.BytesScanned, "a scanning recovery kept a bad batch at byte %d: %v", pos, err)
			damaged = true
			break
		}
		if !h.isControl() && !undecodable {
			if want, err = dec.decode(want, &h, b, 0, maxReadDecompressedBytes(DefaultMaxBatchBytes)); err != nil {
				undecodable = true // reads stop here with a *CorruptError
			}
		}
		next = h.lastOffset() + 1
		pos += h.size()
	}

	got := readPartition(t, l)
	p, err := l.Partition("f", 0)
	require.NoError(t, err)
	require.Equal(t, p.LogEndOffset(), p.HighWatermark(), "after recovery everything is durable")
	if !damaged {
		require.Equal(t, next, p.LogEndOffset())
	}
	var before, after []Record
	for _, r := range got {
		if r.Offset < lastBase {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	assert.Equal(t, summary(base.records[:len(before)]), summary(before), "the closed segments read the same")
	if damaged {
		// Reads stop at the damage (or before: see
		// TestReadReportsForgedBaseOffset).
		require.LessOrEqual(t, len(after), len(want))
		want = want[:len(after)]
	}
	require.Equal(t, summary(want), summary(after), "every record read comes from a batch with a valid CRC")
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].Offset, got[i-1].Offset, "offsets strictly increase")
	}
	require.NoError(t, Abandon(l))

	// Recovery is idempotent. (Not quite for damage that a clean Open did
	// not look at: the next Open scans, finds it and refuses.)
	l, err = Open(fuzzLogDir, fuzzOptions(fsys, false))
	if damaged {
		var ce *CorruptError
		if err != nil {
			require.ErrorAs(t, err, &ce)
			return
		}
	}
	require.NoError(t, err, "second Open")
	assert.Zero(t, l.Recovery().BytesTruncated, "second Open cut more")
	again, err := fsys.ReadFile(lastLog)
	require.NoError(t, err)
	require.Equal(t, kept, again)
	require.Equal(t, summary(got), summary(readPartition(t, l)), "second Open reads differently")
	require.NoError(t, Abandon(l))
}

// readPartition reads partition f/0 from its start until the end or the
// first *CorruptError.
func readPartition(t *testing.T, l *Log) []Record {
	t.Helper()
	p, err := l.Partition("f", 0)
	require.NoError(t, err)
	var out []Record
	for off := p.LogStartOffset(); off < p.HighWatermark(); {
		recs, err := p.Read(off, 1<<16)
		out = append(out, recs...)
		if err != nil {
			var ce *CorruptError
			require.ErrorAs(t, err, &ce, "reads fail only for damage")
			return out
		}
		if len(recs) == 0 {
			// Batches without records (control batches, or a fuzzed
			// empty batch) end the segment's records; go on after them.
			return out
		}
		off = recs[len(recs)-1].Offset + 1
	}
	return out
}

// summary turns records into comparable lines, telling nil from empty.
func summary(recs []Record) []string {
	show := func(b []byte) string {
		if b == nil {
			return "<nil>"
		}
		return fmt.Sprintf("%q", b)
	}
	out := make([]string, len(recs))
	for i, r := range recs {
		var hs []string
		for _, h := range r.Headers {
			hs = append(hs, h.Key+"="+show(h.Value))
		}
		out[i] = fmt.Sprintf("%d %d %s %s %v", r.Offset, r.Timestamp.UnixMilli(), show(r.Key), show(r.Value), hs)
	}
	return out
}

// FuzzIndexFiles puts the fuzzer's bytes in a segment's .index and
// .timeindex files, closed segments and the active one after a clean
// shutdown alike. Indexes carry no authority: Open succeeds, and reads from
// every offset, and OffsetForTime, return what they return with good
// indexes.
func FuzzIndexFiles(f *testing.F) {
	base := fuzzLogFor(f)
	for i, seg := range base.segs {
		stem := strings.TrimSuffix(seg, logExt)
		index, timeIndex := base.files[stem+indexExt], base.files[stem+timeIndexExt]
		f.Add(byte(i), index, timeIndex)
		f.Add(byte(i), index[:len(index)/2], timeIndex)
		f.Add(byte(i), index, timeIndex[:len(timeIndex)-timeEntrySize])
		f.Add(byte(i), make([]byte, len(index)), make([]byte, len(timeIndex)))
		f.Add(byte(i), slices.Concat(index, index), timeIndex)
	}
	f.Add(byte(0), []byte{}, []byte{})

	f.Fuzz(func(t *testing.T, which byte, index, timeIndex []byte) {
		if len(index) > 4<<10 || len(timeIndex) > 4<<10 {
			t.Skip("keep each run fast")
		}
		seg := base.segs[int(which)%len(base.segs)]
		stem := strings.TrimSuffix(seg, logExt)
		replace := map[string][]byte{stem + indexExt: index, stem + timeIndexExt: timeIndex}
		switch which / 16 % 4 {
		case 1:
			delete(replace, stem+timeIndexExt)
		case 2:
			delete(replace, stem+indexExt)
		}
		fsys := base.install(t, replace)
		l, err := Open(fuzzLogDir, fuzzOptions(fsys, false))
		require.NoError(t, err, "indexes carry no authority")
		defer func() { require.NoError(t, Abandon(l)) }()
		p, err := l.Partition("f", 0)
		require.NoError(t, err)
		want := summary(base.records)
		for i, r := range base.records {
			got, err := p.Read(r.Offset, 1)
			require.NoError(t, err)
			require.NotEmpty(t, got, "read at %d", r.Offset)
			// A read returns the whole batch holding the offset.
			j := slices.IndexFunc(got, func(g Record) bool { return g.Offset == r.Offset })
			require.GreaterOrEqual(t, j, 0, "read at %d misses it", r.Offset)
			require.Equal(t, want[i:i+len(got)-j], summary(got[j:]), "read at %d", r.Offset)
		}
		require.Equal(t, want, summary(readPartition(t, l)))

		// A time index that a crash could have left (the real one cut
		// short, perhaps zero-filled) gives exact answers. Other bytes that
		// happen to pass the checks (monotonic entries ending with a
		// plausible maximum) are believed, as Kafka believes them: then
		// OffsetForTime may skip records, but never returns one older than
		// asked for or one that is not there.
		_, fuzzedTimes := replace[stem+timeIndexExt]
		exact := !fuzzedTimes || crashLike(timeIndex, base.files[stem+timeIndexExt])
		for _, r := range base.records {
			for _, ts := range []time.Time{r.Timestamp, r.Timestamp.Add(time.Millisecond)} {
				off, found, err := p.OffsetForTime(ts)
				require.NoError(t, err)
				wantOff, wantFound := firstAtOrAfter(base.records, ts)
				if exact {
					require.Equal(t, wantFound, found, "OffsetForTime(%d)", ts.UnixMilli())
					require.Equal(t, wantOff, off, "OffsetForTime(%d)", ts.UnixMilli())
					continue
				}
				if found {
					require.True(t, wantFound, "OffsetForTime(%d) found %d", ts.UnixMilli(), off)
					i := slices.IndexFunc(base.records, func(r Record) bool { return r.Offset == off })
					require.GreaterOrEqual(t, i, 0, "OffsetForTime(%d) = %d, not a record", ts.UnixMilli(), off)
					require.False(t, base.records[i].Timestamp.Before(ts), "OffsetForTime(%d) = %d, an older record", ts.UnixMilli(), off)
				}
			}
		}
	})
}

// crashLike tells whether b is what a crash can leave of a file whose
// content was real: a prefix of it, possibly followed by zeros up to at
// most its length.
func crashLike(b, real []byte) bool {
	if len(b) > len(real) {
		return false
	}
	n := 0
	for n < len(b) && b[n] == real[n] {
		n++
	}
	return !slices.ContainsFunc(b[n:], func(c byte) bool { return c != 0 })
}

// firstAtOrAfter finds by brute force what OffsetForTime should return.
func firstAtOrAfter(recs []Record, ts time.Time) (int64, bool) {
	for _, r := range recs {
		if !r.Timestamp.Before(ts) {
			return r.Offset, true
		}
	}
	return -1, false
}

// TestRecoveryRefusesDamagedHeaders damages the header of a batch in the
// middle of the active segment, below its recovery point, with good
// batches after it. A crash cannot do that — those bytes were fsynced — so
// a scanning Open must refuse with a *CorruptError at that batch rather
// than cut everything after it as a torn tail, and Repair must keep a copy
// of what it cuts. The index files are removed so that Open scans from the
// start of the segment rather than from the last index entry before the
// recovery point.
func TestRecoveryRefusesDamagedHeaders(t *testing.T) {
	base := fuzzLogFor(t)
	lastLog := base.last()
	last := base.files[lastLog]
	ends := batchEnds(last)
	require.Greater(t, len(ends), 2)
	pos := ends[0] // the second batch
	damages := map[string]func(b []byte){
		"length past the end":   func(b []byte) { b[pos+batchLengthPos] = 0x7f },
		"length too short":      func(b []byte) { binary.BigEndian.PutUint32(b[pos+batchLengthPos:], 20) },
		"length one too long":   func(b []byte) { b[pos+batchLengthPos+3]++ },
		"magic":                 func(b []byte) { b[pos+batchMagicPos] = 1 },
		"negative base offset":  func(b []byte) { b[pos] = 0x80 },
		"base offset goes back": func(b []byte) { binary.BigEndian.PutUint64(b[pos:], 0) },
		"crc":                   func(b []byte) { b[pos+batchCRCPos] ^= 1 },
		"zeroed header":         func(b []byte) { clear(b[pos : pos+batchHeaderSize]) },
	}
	first, err := parseBatchHeader(last)
	require.NoError(t, err)
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			data := bytes.Clone(last)
			damage(data)
			stem := strings.TrimSuffix(lastLog, logExt)
			fsys := base.install(t, map[string][]byte{lastLog: data, path.Join(fuzzLogDir, cleanMarkerName): nil, stem + indexExt: nil, stem + timeIndexExt: nil})
			_, err := Open(fuzzLogDir, fuzzOptions(fsys, false))
			var ce *CorruptError
			require.ErrorAs(t, err, &ce, "damage followed by good batches is not a torn tail")
			assert.Equal(t, lastLog, ce.Path)
			assert.Equal(t, int64(pos), ce.Pos)
			after, err := fsys.ReadFile(lastLog)
			require.NoError(t, err)
			require.Equal(t, data, after, "a refused Open changes nothing")

			l, err := Open(fuzzLogDir, fuzzOptions(fsys, true))
			require.NoError(t, err)
			defer func() { require.NoError(t, l.Close()) }()
			rs := l.Recovery()
			require.Len(t, rs.Repaired, 1)
			kept, err := fsys.ReadFile(rs.Repaired[0])
			require.NoError(t, err)
			assert.Equal(t, data[pos:], kept, "the copy holds what was cut")
			got := readPartition(t, l)
			n := slices.IndexFunc(base.records, func(r Record) bool { return r.Offset > first.lastOffset() })
			require.Positive(t, n)
			assert.Equal(t, summary(base.records[:n]), summary(got), "everything before the damage is kept")
		})
	}
}

// TestReadReportsForgedBaseOffset: a batch's base offset is not covered by
// its CRC, so a flipped bit there goes unnoticed by the checksum. A read
// must then report the damage rather than return nothing below the high
// watermark, which leaves a consumer stuck without an error.
func TestReadReportsForgedBaseOffset(t *testing.T) {
	base := fuzzLogFor(t)
	first := base.segs[0] // a closed segment: Open does not read it
	data := bytes.Clone(base.files[first])
	pos := batchEnds(data)[1] // the third batch
	h, err := parseBatchHeader(data[pos:])
	require.NoError(t, err)
	binary.BigEndian.PutUint64(data[pos:], uint64(h.BaseOffset)|1<<40)
	fsys := base.install(t, map[string][]byte{first: data})
	l, err := Open(fuzzLogDir, fuzzOptions(fsys, false))
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	p, err := l.Partition("f", 0)
	require.NoError(t, err)
	for _, from := range []int64{0, h.BaseOffset} {
		var got []Record
		for off := from; off < p.HighWatermark(); {
			recs, err := p.Read(off, 1<<20)
			if err != nil {
				var ce *CorruptError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, first, ce.Path)
				break
			}
			require.NotEmpty(t, recs, "Read(%d) below the high watermark %d returned nothing and no error", off, p.HighWatermark())
			got = append(got, recs...)
			off = recs[len(recs)-1].Offset + 1
		}
		for _, r := range got {
			require.Less(t, r.Offset, p.HighWatermark(), "a record past the high watermark")
		}
	}
}
