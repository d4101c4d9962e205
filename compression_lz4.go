package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// lz4 batches hold one LZ4 frame (format 1.5.1), the framing and the
// raw blocks of pierrec/lz4. The frame is written as Kafka's Java
// producer writes it (Lz4BlockOutputStream), which is also what its
// reader requires of a frame:
//
//	+-------------+-----+-----+----+-------------------------+-----+----------+
//	| magic       | FLG | BD  | HC | block ...               | end | checksum |
//	| 04 22 4D 18 | 60  | 40  | 82 | size uint32 LE, bytes   | 0   | optional |
//	+-------------+-----+-----+----+-------------------------+-----+----------+
//
// FLG 0x60 is version 1 with independent blocks, no block or content
// checksums and no content size; BD 0x40 is blocks of at most 64 KiB; HC
// is the descriptor's checksum. A block's size has its top bit set when
// its bytes are stored uncompressed, as for input that does not shrink.
//
// Reading also takes what other producers write: blocks of up to 4 MiB,
// block and content checksums and a content size. Reads do not check the
// checksums: the batch's CRC-32C covers every byte of the frame already.
// AppendBatch checks them (checkLZ4Checksums), as Kafka's readers do.
// Frames with dependent blocks, which Kafka refuses, are refused.

const (
	lz4Magic        = 0x184D2204
	lz4BlockSize    = 64 << 10 // input bytes per block written
	lz4Uncompressed = 1 << 31  // a block size's flag for stored bytes

	lz4FlagVersionMask    = 0xC0
	lz4FlagVersion1       = 0x40
	lz4FlagIndependent    = 0x20
	lz4FlagBlockChecksum  = 0x10
	lz4FlagContentSize    = 0x08
	lz4FlagContentSum     = 0x04
	lz4FlagReserved       = 0x03
	lz4DescriptorReserved = 0x8F // BD bits other than the block size
)

// lz4Header is the frame header written: magic, FLG, BD and HC.
var lz4Header = []byte{0x04, 0x22, 0x4D, 0x18, lz4FlagVersion1 | lz4FlagIndependent, 4 << 4, 0x82}

// lz4Compressors pools block compressors, each with its hash table.
var lz4Compressors = sync.Pool{New: func() any { return new(lz4.Compressor) }}

// appendLZ4 appends src compressed as one LZ4 frame of 64 KiB blocks.
func appendLZ4(dst, src []byte) []byte {
	c := lz4Compressors.Get().(*lz4.Compressor)
	defer lz4Compressors.Put(c)
	dst = append(dst, lz4Header...)
	for len(src) > 0 {
		block := src[:min(len(src), lz4BlockSize)]
		src = src[len(block):]
		dst = slices.Grow(dst, 4+len(block))
		at := len(dst)
		// Room for less than the input: a block that does not shrink is
		// stored as it is.
		n, err := c.CompressBlock(block, dst[at+4:at+4+len(block)-1])
		if err != nil || n == 0 {
			binary.LittleEndian.PutUint32(dst[at:at+4], uint32(len(block))|lz4Uncompressed)
			dst = append(dst[:at+4], block...)
			continue
		}
		binary.LittleEndian.PutUint32(dst[at:at+4], uint32(n))
		dst = dst[:at+4+n]
	}
	return binary.LittleEndian.AppendUint32(dst, 0) // the end mark
}

// unlz4 appends the LZ4 frame in src, decompressed, to dst. A compressed
// block's decompressed size is known only once it is decoded, so dst may
// grow past limit by one block before the frame is refused. The blocks'
// sizes are read first: a frame whose stored blocks exceed the limit is
// refused undecoded, and a large one is decoded into a buffer of the most
// it can make, rather than one grown by a quarter at a time.
func unlz4(dst, src []byte, limit int) ([]byte, error) {
	start := len(dst)
	blockMax, p, err := lz4Descriptor(src)
	if err != nil {
		return dst, err
	}
	blockChecksum := src[4]&lz4FlagBlockChecksum != 0
	if least, most, ok := lz4Sizes(src, p, blockMax, blockChecksum); ok {
		if least > limit {
			return dst, tooLarge(CompressionLZ4, limit)
		}
		if most >= lz4PresizeFloor {
			dst = slices.Grow(dst, min(most, limit))
		}
	}
	for {
		if len(src)-p < 4 {
			return dst[:start], errors.New("lz4: frame ends without its end mark")
		}
		size := binary.LittleEndian.Uint32(src[p:])
		p += 4
		if size == 0 {
			break
		}
		stored := size&lz4Uncompressed != 0
		size &^= lz4Uncompressed
		if int(size) > blockMax || int(size) > len(src)-p {
			return dst[:start], fmt.Errorf("lz4: block of %d bytes at %d exceeds the frame or its %d-byte blocks", size, p-4, blockMax)
		}
		blockAt := p
		block := src[p : p+int(size)]
		p += int(size)
		if blockChecksum {
			p += 4
		}
		if stored {
			if len(dst)-start+len(block) > limit {
				return dst[:start], tooLarge(CompressionLZ4, limit)
			}
			dst = append(dst, block...)
			continue
		}
		at, room := len(dst), min(blockMax, lz4MaxRatio*len(block))
		dst = slices.Grow(dst, room)
		n, err := lz4.UncompressBlock(block, dst[at:at+room])
		if err != nil {
			return dst[:start], fmt.Errorf("lz4: block at %d: %w", blockAt, err)
		}
		dst = dst[:at+n]
		if len(dst)-start > limit {
			return dst[:start], tooLarge(CompressionLZ4, limit)
		}
	}
	if src[4]&lz4FlagContentSum != 0 {
		p += 4
	}
	if p > len(src) {
		return dst[:start], errors.New("lz4: frame ends inside a checksum")
	}
	return dst, nil
}

const (
	// lz4MaxRatio bounds what a byte of an LZ4 block decodes to: a
	// sequence's match length grows by 255 a byte, and its token and
	// offset take 3 bytes that make 19 at most.
	lz4MaxRatio = 255

	// lz4PresizeFloor is the least unlz4 sizes its output for from the
	// blocks' sizes: below, a short last block would weigh too much.
	lz4PresizeFloor = 1 << 20
)

// lz4Sizes reads the block sizes of the LZ4 frame src, whose blocks start
// at p, for what they decode to: least bytes at least (stored blocks) and
// most bytes at most (a compressed block makes blockMax, or lz4MaxRatio
// times its size, at most). ok is false when the blocks run past src;
// unlz4 says so. Memory-safe on any src.
func lz4Sizes(src []byte, p, blockMax int, blockChecksum bool) (least, most int, ok bool) {
	for {
		if len(src)-p < 4 {
			return 0, 0, false
		}
		size := binary.LittleEndian.Uint32(src[p:])
		p += 4
		if size == 0 {
			return least, most, true
		}
		n := int(size &^ lz4Uncompressed)
		if n > blockMax || n > len(src)-p {
			return 0, 0, false
		}
		if size&lz4Uncompressed != 0 {
			least, most = least+n, most+n
		} else {
			most += min(blockMax, lz4MaxRatio*n)
		}
		p += n
		if blockChecksum {
			p += 4
		}
	}
}

// lz4Descriptor checks the frame header at the start of src and returns
// its block size and where its blocks start.
func lz4Descriptor(src []byte) (blockMax, blocksAt int, err error) {
	if len(src) < len(lz4Header) || binary.LittleEndian.Uint32(src) != lz4Magic {
		return 0, 0, errors.New("lz4: not an LZ4 frame")
	}
	flg, bd := src[4], src[5]
	switch sizeID := int(bd>>4) & 7; {
	case flg&lz4FlagVersionMask != lz4FlagVersion1:
		return 0, 0, fmt.Errorf("lz4: frame version %d", flg>>6)
	case flg&lz4FlagIndependent == 0:
		return 0, 0, errors.New("lz4: dependent blocks, which Kafka does not write")
	case flg&lz4FlagReserved != 0 || bd&lz4DescriptorReserved != 0:
		return 0, 0, fmt.Errorf("lz4: reserved bits set in descriptor %#02x %#02x", flg, bd)
	case sizeID < 4:
		return 0, 0, fmt.Errorf("lz4: block size id %d", sizeID)
	default:
		blockMax = 1 << (2*sizeID + 8)
	}
	blocksAt = 7 // magic, FLG, BD, HC
	if flg&lz4FlagContentSize != 0 {
		blocksAt += 8
	}
	if blocksAt > len(src) {
		return 0, 0, errors.New("lz4: frame ends inside its header")
	}
	return blockMax, blocksAt, nil
}

// checkLZ4Checksums checks the checksums of the LZ4 frame src, which
// unlz4 decompressed into content: the descriptor's, and those of the
// blocks and of the content when the frame's flags say it has them. Reads
// leave them to the batch's CRC-32C, which covers them; AppendBatch checks
// them, as Kafka's readers (Java's KafkaLZ4BlockInputStream, franz-go's
// pierrec/lz4) do, so that the Log stores no frame a Kafka consumer
// refuses.
func checkLZ4Checksums(src, content []byte) error {
	_, p, err := lz4Descriptor(src)
	if err != nil {
		return err
	}
	if want := byte(xxh32(src[4:p-1]) >> 8); src[p-1] != want {
		return fmt.Errorf("lz4: descriptor checksum %#02x, want %#02x", src[p-1], want)
	}
	blockChecksum := src[4]&lz4FlagBlockChecksum != 0
	le := binary.LittleEndian
	for { // unlz4 read the frame: every size and checksum is in src
		size := le.Uint32(src[p:]) &^ lz4Uncompressed
		p += 4
		if size == 0 {
			break
		}
		block := src[p : p+int(size)]
		p += int(size)
		if blockChecksum {
			if got, want := le.Uint32(src[p:]), xxh32(block); got != want {
				return fmt.Errorf("lz4: block checksum %#08x at %d, want %#08x", got, p, want)
			}
			p += 4
		}
	}
	if src[4]&lz4FlagContentSum != 0 {
		if got, want := le.Uint32(src[p:]), xxh32(content); got != want {
			return fmt.Errorf("lz4: content checksum %#08x, want %#08x", got, want)
		}
	}
	return nil
}

// xxh32 is the 32-bit xxHash of b with seed 0, the checksum of LZ4 frames.
func xxh32(b []byte) uint32 {
	const (
		prime1 uint32 = 2654435761
		prime2 uint32 = 2246822519
		prime3 uint32 = 3266489917
		prime4 uint32 = 668265263
		prime5 uint32 = 374761393
	)
	round := func(acc, in uint32) uint32 { return bits.RotateLeft32(acc+in*prime2, 13) * prime1 }
	le := binary.LittleEndian
	n := len(b)
	var h uint32
	if n >= 16 {
		p1 := prime1 // a variable: the sums below wrap, as constants may not
		v1, v2, v3, v4 := p1+prime2, prime2, uint32(0), -p1
		for ; len(b) >= 16; b = b[16:] {
			v1 = round(v1, le.Uint32(b))
			v2 = round(v2, le.Uint32(b[4:]))
			v3 = round(v3, le.Uint32(b[8:]))
			v4 = round(v4, le.Uint32(b[12:]))
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = prime5
	}
	h += uint32(n)
	for ; len(b) >= 4; b = b[4:] {
		h = bits.RotateLeft32(h+le.Uint32(b)*prime3, 17) * prime4
	}
	for _, c := range b {
		h = bits.RotateLeft32(h+uint32(c)*prime5, 11) * prime1
	}
	h ^= h >> 15
	h *= prime2
	h ^= h >> 13
	h *= prime3
	h ^= h >> 16
	return h
}
