package eventlog

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pierrec/lz4/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lz4Inputs are records areas of the shapes the codec meets: empty, tiny,
// repetitive, incompressible, and larger than a block.
func lz4Inputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	text := bytes.Repeat([]byte("key-000042 value of the record, repeated; "), 10_000)
	return map[string][]byte{
		"empty":                {},
		"one byte":             {7},
		"text":                 text[:1000],
		"random":               random(1000),
		"text of many blocks":  text,
		"random of two blocks": random(lz4BlockSize + 1),
		"mixed":                append(random(lz4BlockSize-10), text[:3*lz4BlockSize]...),
	}
}

// TestLZ4WritesKafkasFrame checks our frames against pierrec/lz4's frame
// writer set as Kafka's producer writes (64 KiB blocks, no checksums):
// the same header, and pierrec's reader reads what we write.
func TestLZ4WritesKafkasFrame(t *testing.T) {
	var theirs bytes.Buffer
	w := lz4.NewWriter(&theirs)
	require.NoError(t, w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false), lz4.BlockChecksumOption(false)))
	_, err := w.Write([]byte("some records"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.Equal(t, theirs.Bytes()[:len(lz4Header)], lz4Header, "magic, FLG, BD and HC")

	for name, in := range lz4Inputs() {
		t.Run(name, func(t *testing.T) {
			frame, err := compress([]byte("prefix"), in, CompressionLZ4)
			require.NoError(t, err)
			require.Equal(t, "prefix", string(frame[:6]))
			frame = frame[6:]
			assert.Equal(t, lz4Header, frame[:len(lz4Header)])
			out, err := io.ReadAll(lz4.NewReader(bytes.NewReader(frame)))
			require.NoError(t, err)
			assert.Equal(t, len(in), len(out))
			assert.True(t, bytes.Equal(in, out), "pierrec reads our frame back")
			got, err := decompress([]byte("x"), frame, CompressionLZ4, len(in))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(append([]byte("x"), in...), got), "we read it back, appended")
			if len(in) > lz4BlockSize {
				assert.Less(t, len(frame), len(in)+len(in)/lz4BlockSize*4+16, "blocks that do not shrink are stored")
			}
		})
	}
}

// TestLZ4ReadsOtherWriters reads frames pierrec/lz4 writes with every
// option producers use: block sizes up to 4 MiB, block and content
// checksums, a content size.
func TestLZ4ReadsOtherWriters(t *testing.T) {
	options := map[string]func(size int) []lz4.Option{
		"franz-go default (4 MiB blocks, content checksum)": func(int) []lz4.Option { return nil },
		"256 KiB blocks, block checksums": func(int) []lz4.Option {
			return []lz4.Option{lz4.BlockSizeOption(lz4.Block256Kb), lz4.BlockChecksumOption(true)}
		},
		"1 MiB blocks, content size": func(size int) []lz4.Option {
			return []lz4.Option{lz4.BlockSizeOption(lz4.Block1Mb), lz4.SizeOption(uint64(size))}
		},
		"64 KiB blocks, every checksum, level 9": func(int) []lz4.Option {
			return []lz4.Option{lz4.BlockSizeOption(lz4.Block64Kb), lz4.BlockChecksumOption(true), lz4.ChecksumOption(true), lz4.CompressionLevelOption(lz4.Level9)}
		},
	}
	for oname, opts := range options {
		for name, in := range lz4Inputs() {
			t.Run(oname+"/"+name, func(t *testing.T) {
				var buf bytes.Buffer
				w := lz4.NewWriter(&buf)
				require.NoError(t, w.Apply(opts(len(in))...))
				_, err := w.Write(in)
				require.NoError(t, err)
				require.NoError(t, w.Close())
				got, err := decompress(nil, buf.Bytes(), CompressionLZ4, len(in))
				require.NoError(t, err)
				assert.True(t, bytes.Equal(in, got))
				assert.NoError(t, checkLZ4Checksums(buf.Bytes(), got), "what AppendBatch checks")
			})
		}
	}
}

// TestXXH32 checks the frame checksum against the reference's values.
func TestXXH32(t *testing.T) {
	for in, want := range map[string]uint32{
		"":    0x02CC5D05,
		"a":   0x550D7456,
		"abc": 0x32D153FF,
	} {
		assert.Equal(t, want, xxh32([]byte(in)), "%q", in)
	}
	// Our own frames' descriptor checksum, as Kafka's producer writes it.
	assert.Equal(t, lz4Header[6], byte(xxh32(lz4Header[4:6])>>8))
}

// TestLZ4RefusesBadFrames damages frames in every way the header and the
// block sizes can be wrong, and checks the limit on what a frame
// decompresses to: each fails with an error, never a panic.
func TestLZ4RefusesBadFrames(t *testing.T) {
	text := bytes.Repeat([]byte("abcdefgh"), 20_000)
	good, err := compress(nil, text, CompressionLZ4)
	require.NoError(t, err)
	stored, err := compress(nil, lz4Inputs()["random"], CompressionLZ4)
	require.NoError(t, err)
	edit := func(b []byte, at int, v byte) []byte {
		b = bytes.Clone(b)
		b[at] = v
		return b
	}
	cases := map[string]struct {
		frame []byte
		want  string
	}{
		"not lz4":              {[]byte("\x00\x01\x02\x03\x04\x05\x06\x07"), "not an LZ4 frame"},
		"legacy magic":         {edit(good, 0, 0x02), "not an LZ4 frame"},
		"version 0":            {edit(good, 4, 0x20), "frame version 0"},
		"dependent blocks":     {edit(good, 4, 0x40), "dependent blocks"},
		"reserved FLG bit":     {edit(good, 4, 0x61), "reserved bits"},
		"reserved BD bit":      {edit(good, 5, 0xC0), "reserved bits"},
		"block size id 3":      {edit(good, 5, 0x30), "block size id 3"},
		"content size cut":     {edit(good[:10], 4, 0x68), "inside its header"},
		"block past the end":   {good[:len(good)-20], "exceeds the frame"},
		"no end mark":          {good[:len(good)-4], "without its end mark"},
		"block over 64 KiB":    {append(edit(good[:7], 0, 0x04), 0x01, 0x00, 0x01, 0x00), "exceeds the frame or its 65536-byte blocks"},
		"garbled block":        {append(bytes.Clone(good[:7]), 0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0), "lz4: block at 11"},
		"content checksum cut": {edit(good, 4, 0x64), "inside a checksum"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := decompress([]byte("kept"), tc.frame, CompressionLZ4, testLimit)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.want)
			assert.Equal(t, "kept", string(out), "dst is returned as it was")
		})
	}
	for _, frame := range [][]byte{good, stored} {
		for n := range len(frame) - 1 {
			_, err := decompress(nil, frame[:n], CompressionLZ4, testLimit)
			require.Error(t, err, "a frame cut at %d of %d bytes", n, len(frame))
		}
	}

	_, err = decompress(nil, good, CompressionLZ4, len(text)-1)
	assert.ErrorIs(t, err, ErrRecordTooLarge, "compressed blocks over the limit")
	_, err = decompress(nil, stored, CompressionLZ4, 999)
	assert.ErrorIs(t, err, ErrRecordTooLarge, "a stored block over the limit")
	got, err := decompress(nil, good, CompressionLZ4, len(text))
	require.NoError(t, err)
	assert.Equal(t, text, got, "exactly at the limit")
}

// TestLZ4StoresBlocksThatDoNotShrink checks the stored-block flag, which
// Kafka's writer sets for input that compression would make larger.
func TestLZ4StoresBlocksThatDoNotShrink(t *testing.T) {
	in := lz4Inputs()["random"]
	frame := appendLZ4(nil, in)
	size := binary.LittleEndian.Uint32(frame[len(lz4Header):])
	assert.Equal(t, uint32(len(in))|lz4Uncompressed, size)
	assert.Equal(t, in, frame[len(lz4Header)+4:len(lz4Header)+4+len(in)])
	assert.Len(t, frame, len(lz4Header)+4+len(in)+4)
}

// FuzzLZ4 reads any bytes as a frame, with pierrec/lz4's reader alongside:
// no panic, nothing past the limit, and where both read a frame they read
// the same bytes. (pierrec also checks the frame's checksums, which we
// leave to the batch CRC, so it refuses some frames we read.)
func FuzzLZ4(f *testing.F) {
	for _, in := range lz4Inputs() {
		if len(in) <= 1000 {
			f.Add(appendLZ4(nil, in))
		}
	}
	var buf bytes.Buffer
	w := lz4.NewWriter(&buf)
	require.NoError(f, w.Apply(lz4.BlockChecksumOption(true)))
	_, err := w.Write([]byte("checksummed blocks, checksummed blocks"))
	require.NoError(f, err)
	require.NoError(f, w.Close())
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		ours, err := decompress(nil, frame, CompressionLZ4, fuzzLimit)
		if err != nil {
			return
		}
		require.LessOrEqual(t, len(ours), fuzzLimit)
		theirs, err := io.ReadAll(io.LimitReader(lz4.NewReader(bytes.NewReader(frame)), fuzzLimit+1))
		if err == nil {
			assert.True(t, bytes.Equal(theirs, ours), "pierrec read %d bytes, we read %d", len(theirs), len(ours))
		}
	})
}
