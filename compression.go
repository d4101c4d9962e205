package eventlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// Compression of a batch covers its whole records area, after the 61-byte
// header, as in Kafka. The codecs write what Kafka's Java producer writes,
// so Kafka clients and tools read our segments:
//
//   - gzip: a gzip stream at the default level.
//   - snappy: snappy-java's "xerial" framing, the Java producer's format:
//
//     +--------------------------+---------+---------+--------+-------+----
//     | magic "\x82SNAPPY\x00"   | version | compat  | len    | block | ...
//     | 8 bytes                  | int32 1 | int32 1 | uint32 |       |
//     +--------------------------+---------+---------+--------+-------+----
//
//     where each block is a raw snappy block of at most 32 KiB of input
//     and len is its compressed size, big endian. Decoding also accepts a
//     single raw snappy block without framing, which some non-Java
//     clients (librdkafka, franz-go) write; Kafka's Java reader accepts
//     both as well.
//   - lz4: one LZ4 frame of 64 KiB blocks (compression_lz4.go).
//   - zstd: one zstd frame at the default level (Kafka's level 3).
//
// The compressed bytes depend on the versions of klauspost/compress and
// pierrec/lz4; only their decompressed content is part of the format.

// xerialHeader starts snappy data in xerial framing: the magic, then
// version 1 and minimum compatible version 1 (snappy-java rejects lower).
var xerialHeader = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}

const (
	xerialMagicSize  = 8        // the part of xerialHeader that identifies the framing
	xerialBlockSize  = 32 << 10 // input bytes per block, as snappy-java writes
	xerialMinVersion = 1        // the lowest version snappy-java reads

	// zstdMinLimit is the smallest decoded-size limit given to the zstd
	// decoder. The decoder also refuses frames whose window exceeds its
	// limit, and Kafka's producer declares windows of up to 8 MiB (levels
	// up to 19) whatever the content size; a batch decoding to more than
	// the caller's limit is still refused after decoding.
	zstdMinLimit = 8 << 20

	// maxDecompressLimit caps the limit callers pass, keeping limit+1 clear
	// of integer overflow.
	maxDecompressLimit = math.MaxInt - 1
)

// compress appends to dst the records area src compressed with c.
func compress(dst, src []byte, c Compression) ([]byte, error) {
	switch c {
	case CompressionGzip:
		gc, _ := gzipCompressors.Get().(*gzipCompressor)
		if gc == nil {
			gc = new(gzipCompressor)
			w, err := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
			if err != nil {
				return dst, fmt.Errorf("gzip: %w", err)
			}
			gc.w = w
		}
		gc.out.b = dst
		gc.w.Reset(&gc.out)
		_, err := gc.w.Write(src)
		if err == nil {
			err = gc.w.Close()
		}
		out := gc.out.b
		gc.out.b = nil
		gc.w.Reset(nil)
		gzipCompressors.Put(gc)
		if err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		return out, nil
	case CompressionSnappy:
		return appendXerial(dst, src), nil
	case CompressionLZ4:
		return appendLZ4(dst, src), nil
	case CompressionZstd:
		enc, _ := zstdEncoders.Get().(*zstd.Encoder)
		pool := true
		if enc == nil {
			var err error
			enc, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
			if err != nil {
				return dst, fmt.Errorf("zstd: %w", err)
			}
			pool = !inSynctestBubble()
		}
		dst = enc.EncodeAll(src, dst)
		if pool {
			zstdEncoders.Put(enc)
		}
		return dst, nil
	case CompressionNone:
		return append(dst, src...), nil
	}
	return dst, fmt.Errorf("%w: %s (%d)", ErrUnsupportedCompression, c, c)
}

// decompress appends to dst the records area src decompressed with c. It
// fails with an error wrapping ErrRecordTooLarge, before or while
// decompressing, when the result would exceed limit bytes.
func decompress(dst, src []byte, c Compression, limit int) ([]byte, error) {
	limit = min(max(limit, 0), maxDecompressLimit)
	switch c {
	case CompressionGzip:
		return gunzip(dst, src, limit)
	case CompressionSnappy:
		if len(src) >= len(xerialHeader) && bytes.Equal(src[:xerialMagicSize], xerialHeader[:xerialMagicSize]) {
			return unxerial(dst, src[len(xerialHeader):], limit)
		}
		return unsnappy(dst, src, limit)
	case CompressionLZ4:
		return unlz4(dst, src, limit)
	case CompressionZstd:
		return unzstd(dst, src, limit)
	case CompressionNone:
		if len(src) > limit {
			return dst, tooLarge(c, limit)
		}
		return append(dst, src...), nil
	}
	return dst, fmt.Errorf("%w: %s (%d)", ErrUnsupportedCompression, c, c)
}

// tooLarge is the error for a batch that decompresses past the limit. It
// says where the limit comes from (see Partition.MaxBatchBytes): an append
// accepts no batch that a read would refuse, so a read refuses only a
// batch the log did not write.
func tooLarge(c Compression, limit int) error {
	return fmt.Errorf("%w: %s batch decompresses to more than %d bytes, the limit for one batch (64 times the partition's max batch bytes, Options.MaxBatchBytes or max.message.bytes, 64 MiB at least and 1 GiB at most, for an append; 1 GiB at least for a read)", ErrRecordTooLarge, c, limit)
}

// gzipCompressor is a pooled gzip writer with the sink it writes to.
type gzipCompressor struct {
	w   *gzip.Writer
	out appendWriter
}

// appendWriter is an io.Writer appending to a byte slice.
type appendWriter struct{ b []byte }

// Write appends p.
func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// gzipDecompressor is a pooled gzip reader with the source it reads.
type gzipDecompressor struct {
	r   gzip.Reader
	src bytes.Reader
}

// Codec state is pooled: gzip and zstd coders hold hundreds of kilobytes of
// tables each, and no coder starts goroutines, so dropping one is free.
var (
	gzipCompressors   sync.Pool // *gzipCompressor
	gzipDecompressors sync.Pool // *gzipDecompressor
	zstdEncoders      sync.Pool // *zstd.Encoder, concurrency 1
	zstdDecoders      sync.Pool // *zstdDecompressor
)

// gunzip appends the gzip stream src to dst, reading at most limit+1 bytes
// so that a bomb is caught without inflating it.
func gunzip(dst, src []byte, limit int) ([]byte, error) {
	gd, _ := gzipDecompressors.Get().(*gzipDecompressor)
	if gd == nil {
		gd = new(gzipDecompressor)
	}
	defer func() {
		gd.src.Reset(nil) // src may be a mapping that goes away
		gzipDecompressors.Put(gd)
	}()
	gd.src.Reset(src)
	if err := gd.r.Reset(&gd.src); err != nil {
		return dst, fmt.Errorf("gzip: %w", err)
	}
	start := len(dst)
	dst = slices.Grow(dst, min(4*len(src), limit+1))
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, min(cap(dst)-start+1, limit+1-(len(dst)-start)))
		}
		// Never ask for more than one byte past the limit.
		want := min(cap(dst), start+limit+1)
		n, err := gd.r.Read(dst[len(dst):want])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], tooLarge(CompressionGzip, limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("gzip: %w", err)
		}
	}
}

// appendXerial appends src snappy-compressed in xerial framing.
func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialHeader...)
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		dst = slices.Grow(dst, 4+s2.MaxEncodedLen(n))
		at := len(dst)
		block := s2.EncodeSnappy(dst[at+4:cap(dst)], src[:n])
		binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
		dst = append(dst[:at+4], block...) // block is in place: a no-op copy
		src = src[n:]
	}
	return dst
}

// unxerial appends the xerial-framed snappy blocks in src (after the
// 16-byte header) to dst. It sums the blocks' declared sizes before
// decoding any, so dst grows once and never past the limit.
func unxerial(dst, src []byte, limit int) ([]byte, error) {
	total := 0
	for rest := src; len(rest) > 0; {
		if len(rest) < 4 {
			return dst, errors.New("snappy: truncated xerial block length")
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return dst, errors.New("snappy: xerial block past the end")
		}
		n, err := snappyDecodedLen(rest[:size])
		if err != nil {
			return dst, err
		}
		if n > limit-total {
			return dst, tooLarge(CompressionSnappy, limit)
		}
		total += n
		rest = rest[size:]
	}
	start := len(dst)
	dst = slices.Grow(dst, total)
	for len(src) > 0 {
		size := binary.BigEndian.Uint32(src)
		block := src[4 : 4+size]
		src = src[4+size:]
		var err error
		if dst, err = appendSnappyBlock(dst, block); err != nil {
			return dst[:start], err
		}
	}
	return dst, nil
}

// unsnappy appends one raw snappy block to dst, checking its declared size
// against the limit first.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	n, err := snappyDecodedLen(src)
	if err != nil {
		return dst, err
	}
	if n > limit {
		return dst, tooLarge(CompressionSnappy, limit)
	}
	return appendSnappyBlock(slices.Grow(dst, n), src)
}

// snappyMaxRatio bounds how many bytes one byte of a snappy block decodes
// to: the densest element, a copy of 64 bytes, takes 3 bytes (a 2-byte
// copy takes at most 11). S2's extension, which reads take (see
// checkSnappyStrict), goes further: its repeats copy up to 16 MiB in 5
// bytes.
const snappyMaxRatio = 22

// snappyDecodedLen returns the decoded size that the raw snappy block b
// declares, once it is sure that b's elements make that much: a block
// declares its size up front, and decoding allocates it, so a hostile
// block of a few bytes declaring a gigabyte would cost a gigabyte before
// it failed. A size that snappy's densest elements make of b's bytes is
// taken as it is (a block that does not make it fails to decode, having
// cost no more than snappyMaxRatio times its size); a larger one, which
// only S2's repeats can make, is checked by summing b's elements, without
// decoding them.
func snappyDecodedLen(b []byte) (int, error) {
	n, err := s2.DecodedLen(b)
	if err != nil {
		return 0, fmt.Errorf("snappy: %w", err)
	}
	if n/snappyMaxRatio < len(b) {
		return n, nil
	}
	_, p := binary.Uvarint(b) // DecodedLen read it
	if made, ok := snappyElementsLen(b, p, n); !ok || made != n {
		return 0, fmt.Errorf("snappy: block of %d bytes declares %d decoded bytes, which its elements do not make", len(b), n)
	}
	return n, nil
}

// snappyElementsLen sums the sizes that the elements of the raw snappy
// block b, from p on, decode to, as s2 decodes them (with S2's repeats),
// stopping once the sum passes most. ok is false when an element runs
// past the end of b.
func snappyElementsLen(b []byte, p, most int) (n int, ok bool) {
	for p < len(b) && n <= most {
		next, size, _, ok := snappyElement(b, p)
		if !ok {
			return n, false
		}
		n, p = n+size, next
	}
	return n, p == len(b)
}

// snappyElement reads the element of the raw snappy block b at p: where
// the next one starts, how many bytes it decodes to (as s2 decodes it,
// with S2's repeats), and whether it is an S2 repeat (a copy at offset
// 0, which snappy refuses). ok is false when it runs past the end of b.
func snappyElement(b []byte, p int) (next, size int, repeat, ok bool) {
	tag := b[p]
	switch tag & 3 {
	case 0: // a literal; sizes from 61 bytes on follow in 1 to 4 bytes
		size = int(tag >> 2)
		p++
		if size >= 60 {
			extra := size - 59
			if extra > len(b)-p {
				return 0, 0, false, false
			}
			size = 0
			for i := range extra {
				size |= int(b[p+i]) << (8 * i)
			}
			p += extra
		}
		if size >= len(b)-p {
			return 0, 0, false, false
		}
		return p + size + 1, size + 1, false, true
	case 1: // a copy with an 11-bit offset; offset 0 is an S2 repeat
		if len(b)-p < 2 {
			return 0, 0, false, false
		}
		size = int(tag >> 2 & 7)
		repeat = int(tag&0xe0)<<3|int(b[p+1]) == 0
		p += 2
		if repeat && size >= 5 {
			extra := size - 4 // the size follows in 1 to 3 bytes
			if extra > len(b)-p {
				return 0, 0, false, false
			}
			size = 0
			for i := range extra {
				size |= int(b[p+i]) << (8 * i)
			}
			size += [...]int{4, 1 << 8, 1 << 16}[extra-1]
			p += extra
		}
		return p, size + 4, repeat, true
	case 2: // a copy with a 16-bit offset
		p += 3
	default: // a copy with a 32-bit offset
		p += 5
	}
	if p > len(b) {
		return 0, 0, false, false
	}
	return p, int(tag>>2) + 1, false, true
}

// appendSnappyBlock decodes a raw snappy block into dst's spare capacity,
// which must hold its declared size.
func appendSnappyBlock(dst, block []byte) ([]byte, error) {
	n, err := s2.DecodedLen(block)
	if err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	at := len(dst)
	dst = slices.Grow(dst, n)
	out, err := s2.Decode(dst[at:at+n], block)
	if err != nil {
		return dst, fmt.Errorf("snappy: %w", err)
	}
	if len(out) != n {
		return dst, errors.New("snappy: block decodes to the wrong size")
	}
	return dst[:at+n], nil
}

// zstdDecompressor is a pooled zstd decoder and the size limit it was last
// configured with.
type zstdDecompressor struct {
	d       *zstd.Decoder
	limit   uint64
	bubbled bool // made in a synctest bubble: not to be pooled
}

// synctestEpochEnd is a year after the time testing/synctest starts a
// bubble's clock at (midnight UTC, 2000-01-01), which only moves on as the
// bubble's goroutines sleep.
var synctestEpochEnd = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)

// inSynctestBubble reports whether the calling goroutine runs, as far as
// its clock tells, in a testing/synctest bubble. A zstd coder holds
// channels, which belong to the bubble they were made in: the runtime
// stops the program when one is used outside it. The codec pools are
// process-wide, so a coder made in a bubble is used once and dropped.
func inSynctestBubble() bool { return time.Now().Before(synctestEpochEnd) }

// unzstd appends the zstd frames in src to dst. The decoder refuses to
// produce more than max(limit, zstdMinLimit) bytes; the result is then
// checked against limit itself.
func unzstd(dst, src []byte, limit int) ([]byte, error) {
	decLimit := uint64(max(limit, zstdMinLimit))
	zd, _ := zstdDecoders.Get().(*zstdDecompressor)
	if zd == nil {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(decLimit))
		if err != nil {
			return dst, fmt.Errorf("zstd: %w", err)
		}
		zd = &zstdDecompressor{d: d, limit: decLimit, bubbled: inSynctestBubble()}
	} else if zd.limit != decLimit {
		if err := zd.d.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(decLimit)); err != nil {
			return dst, fmt.Errorf("zstd: %w", err)
		}
		zd.limit = decLimit
	}
	if !zd.bubbled {
		defer zstdDecoders.Put(zd)
	}

	// Raw and RLE blocks give their sizes in their headers: frames that
	// surely make more than the limit are refused undecoded, and a large
	// frame, which may not tell its content size (Kafka's Java producer
	// streams it), is decoded into a buffer of about its size rather than
	// one the decoder grows by a quarter at a time.
	if least, expect, sized, ok := zstdSizes(src); ok {
		if least > uint64(limit) {
			return dst, tooLarge(CompressionZstd, limit)
		}
		// Frames that tell their content size the decoder sizes for.
		if !sized && expect >= zstdPresizeFloor {
			dst = slices.Grow(dst, int(min(expect, uint64(limit))))
		}
	}
	start := len(dst)
	out, err := zd.d.DecodeAll(src, dst)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return dst[:start], tooLarge(CompressionZstd, limit)
	case err != nil:
		return dst[:start], fmt.Errorf("zstd: %w", err)
	case len(out)-start > limit:
		return dst[:start], tooLarge(CompressionZstd, limit)
	}
	return out, nil
}

// checkSnappyStrict checks that the snappy data src, which decompress
// read, uses snappy's block format alone. Our decoder, klauspost's s2,
// also takes S2's extension of it, a copy at offset 0 that repeats the
// last offset, which snappy itself, as Kafka's Java clients decode it
// (snappy-java), refuses. Reads take such blocks; AppendBatch refuses
// them, so that the Log stores no batch a Java consumer cannot read. For
// the same reason it refuses xerial framing whose version is below 1,
// which snappy-java refuses ("incompatible codec version"); the minimum
// compatible version that follows it snappy-java does not check.
func checkSnappyStrict(src []byte) error {
	if len(src) < len(xerialHeader) || !bytes.Equal(src[:xerialMagicSize], xerialHeader[:xerialMagicSize]) {
		return checkSnappyBlock(src)
	}
	if v := int32(binary.BigEndian.Uint32(src[xerialMagicSize:])); v < xerialMinVersion {
		return fmt.Errorf("snappy: xerial framing of version %d, which snappy-java refuses (below %d)", v, xerialMinVersion)
	}
	for rest := src[len(xerialHeader):]; len(rest) > 0; { // unxerial read the framing
		size := binary.BigEndian.Uint32(rest)
		if err := checkSnappyBlock(rest[4 : 4+size]); err != nil {
			return err
		}
		rest = rest[4+size:]
	}
	return nil
}

// checkSnappyBlock is checkSnappyStrict for one raw block.
func checkSnappyBlock(b []byte) error {
	_, p := binary.Uvarint(b) // the decoded size
	if p <= 0 {
		return errors.New("snappy: bad block size")
	}
	for p < len(b) {
		next, _, repeat, ok := snappyElement(b, p)
		switch {
		case !ok:
			return fmt.Errorf("snappy: element at %d runs past the end of its block", p)
		case repeat:
			return fmt.Errorf("snappy: copy at offset 0 at %d, an S2 extension that snappy refuses", p)
		}
		p = next
	}
	return nil
}

const (
	// zstdMaxBlock is the most a zstd block decodes to.
	zstdMaxBlock = 128 << 10

	// zstdPresizeFloor is the least unzstd sizes its output for from the
	// blocks' headers: below, a frame's last block, which may be short,
	// would weigh too much in the size.
	zstdPresizeFloor = 1 << 20

	// zstdExpectedRatio is what zstdSizes expects a compressed block to
	// expand by, at most: more than text and records do. A block that
	// expands further costs the decoder's growing of the buffer, as before;
	// a hostile frame of blocks that make nothing costs no more than this
	// times its size.
	zstdExpectedRatio = 64
)

// zstdSizes reads the zstd frames in src, their headers and their blocks'
// headers only, for what they decode to: least bytes at least (raw and
// RLE blocks, whose headers give their sizes), and expect bytes as an
// estimate (a compressed block makes zstdMaxBlock at most, taken as
// zstdExpectedRatio times its size at most). No block makes more than
// zstdMaxBlock, which the decoder enforces too, so expect is at most 32768
// times src's size, what src can make. sized is whether every frame
// tells its content size. ok is false when src does not walk as zstd
// frames; the decoder says why. It is memory-safe on any src.
func zstdSizes(src []byte) (least, expect uint64, sized, ok bool) {
	sized = true
	le := binary.LittleEndian
	for p := 0; p < len(src); {
		if len(src)-p < 8 {
			return 0, 0, false, false
		}
		magic := le.Uint32(src[p:])
		if magic&0xFFFFFFF0 == 0x184D2A50 { // a skippable frame
			size := uint64(le.Uint32(src[p+4:]))
			if size > uint64(len(src)-p-8) {
				return 0, 0, false, false
			}
			p += 8 + int(size)
			continue
		}
		if magic != 0xFD2FB528 {
			return 0, 0, false, false
		}
		fhd := src[p+4]
		p += 5
		if fhd&0x20 == 0 {
			p++ // the window descriptor
		}
		fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
		if fcsSize == 0 && fhd&0x20 != 0 {
			fcsSize = 1
		}
		sized = sized && fcsSize > 0
		p += [4]int{0, 1, 2, 4}[fhd&3] + fcsSize // dictionary id, content size
		for last := false; !last; {
			if len(src)-p < 3 {
				return 0, 0, false, false
			}
			h := uint32(src[p]) | uint32(src[p+1])<<8 | uint32(src[p+2])<<16
			p += 3
			last = h&1 != 0
			size := int(h >> 3)
			switch (h >> 1) & 3 {
			case 0: // raw
				if size > zstdMaxBlock {
					return 0, 0, false, false
				}
				least, expect = least+uint64(size), expect+uint64(size)
			case 1: // RLE: one byte, repeated size times
				if size > zstdMaxBlock {
					return 0, 0, false, false
				}
				least, expect = least+uint64(size), expect+uint64(size)
				size = 1
			case 2:
				expect += uint64(min(zstdMaxBlock, zstdExpectedRatio*size))
			case 3:
				return 0, 0, false, false
			}
			if size > len(src)-p {
				return 0, 0, false, false
			}
			p += size
		}
		if fhd&0x04 != 0 { // content checksum
			p += 4
		}
	}
	return least, expect, sized, true
}

// zstdMaxWindow is the largest window Kafka's Java clients and broker
// decode zstd frames with: zstd-jni's streaming decoder refuses larger
// ones (zstd's ZSTD_WINDOWLOG_LIMIT_DEFAULT, 27).
const zstdMaxWindow = 1 << 27

// checkZstdWindows checks that every frame of the zstd data src has a
// window (for a single-segment frame, its content size) a Java consumer
// decodes. Our decoder takes windows up to the decompression limit, which
// can be larger; reads take such frames, AppendBatch refuses them. It
// walks the frames' headers and block headers only, and is memory-safe on
// any src.
func checkZstdWindows(src []byte) error {
	le := binary.LittleEndian
	for p := 0; p < len(src); {
		if len(src)-p < 8 {
			return errors.New("zstd: truncated frame header")
		}
		magic := le.Uint32(src[p:])
		if magic&0xFFFFFFF0 == 0x184D2A50 { // a skippable frame
			size := uint64(le.Uint32(src[p+4:]))
			if size > uint64(len(src)-p-8) {
				return errors.New("zstd: skippable frame past the end")
			}
			p += 8 + int(size)
			continue
		}
		if magic != 0xFD2FB528 {
			return fmt.Errorf("zstd: bad frame magic %#08x", magic)
		}
		fhd := src[p+4]
		p += 5
		single := fhd&0x20 != 0
		var window uint64
		if !single {
			wd := src[p]
			p++
			base := uint64(1) << (10 + wd>>3)
			window = base + base/8*uint64(wd&7)
		}
		p += [4]int{0, 1, 2, 4}[fhd&3] // dictionary id
		fcsSize := [4]int{0, 2, 4, 8}[fhd>>6]
		if fcsSize == 0 && single {
			fcsSize = 1
		}
		if fcsSize > len(src)-p {
			return errors.New("zstd: truncated frame header")
		}
		if single {
			var fcs [8]byte
			copy(fcs[:], src[p:p+fcsSize])
			window = le.Uint64(fcs[:])
			if fcsSize == 2 {
				window += 256
			}
		}
		if window > zstdMaxWindow {
			return fmt.Errorf("zstd: frame window of %d bytes, larger than the %d Kafka's Java clients decode", window, zstdMaxWindow)
		}
		p += fcsSize
		for last := false; !last; {
			if len(src)-p < 3 {
				return errors.New("zstd: truncated block header")
			}
			h := uint32(src[p]) | uint32(src[p+1])<<8 | uint32(src[p+2])<<16
			p += 3
			last = h&1 != 0
			size := int(h >> 3)
			switch (h >> 1) & 3 {
			case 1: // RLE: one byte, repeated
				size = 1
			case 3:
				return errors.New("zstd: reserved block type")
			}
			if size > len(src)-p {
				return errors.New("zstd: block past the end")
			}
			p += size
		}
		if fhd&0x04 != 0 { // content checksum
			if len(src)-p < 4 {
				return errors.New("zstd: truncated content checksum")
			}
			p += 4
		}
	}
	return nil
}
