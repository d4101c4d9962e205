package eventlog

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden files pin the on-disk batch format. A change that alters them is a
// format change: it must be deliberate, and readers of existing logs must
// still decode the old files. Regenerate with
//
//	go test -run Golden -update
//
// and review the diff.

func init() {
	// Other golden tests in the package may define -update too; whoever
	// comes first defines it and everyone reads it through flag.Lookup.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata/golden")
	}
}

// updateGolden reports whether the test run was asked to rewrite golden files.
func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenBaseOffset is the base offset written into every golden batch.
const goldenBaseOffset = 1234

// goldenHeaderRecords are the records of the headers golden file and of the
// compressed ones.
func goldenHeaderRecords() []Record {
	t := time.UnixMilli(1_700_000_000_000)
	return []Record{
		{Timestamp: t, Key: []byte("order-17"), Value: []byte(`{"state":"paid","amount":1999}`),
			Headers: []Header{{Key: "trace-id", Value: []byte("4bf92f3577b34da6")}, {Key: "null-header"}, {Key: "empty", Value: []byte{}}}},
		{Timestamp: t.Add(15 * time.Millisecond), Key: []byte("order-18"), Value: []byte(`{"state":"new","amount":250}`)},
		{Timestamp: t.Add(-3 * time.Millisecond), Key: []byte("order-17"), Value: []byte(`{"state":"shipped"}`),
			Headers: []Header{{Key: "source", Value: []byte("warehouse-2")}}},
	}
}

// goldenPath names a golden file.
func goldenPath(name string) string { return filepath.Join("testdata", "golden", name+".bin") }

// golden returns the stored golden bytes for name, first writing got there
// when -update is set.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := goldenPath(name)
	if updateGolden() {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file; run go test -run Golden -update")
	return want
}

// TestBatchGoldenUncompressed pins the exact bytes of uncompressed batches.
func TestBatchGoldenUncompressed(t *testing.T) {
	ts := time.UnixMilli(1_700_000_000_000)
	tests := map[string][]Record{
		"uncompressed_headers": goldenHeaderRecords(),
		"null_key":             {{Timestamp: ts, Value: []byte("no key")}},
		"tombstone":            {{Timestamp: ts, Key: []byte("deleted-key")}},
		"empty_key_value":      {{Timestamp: ts, Key: []byte{}, Value: []byte{}}},
	}
	for name, records := range tests {
		t.Run(name, func(t *testing.T) {
			got := encodeBatch(t, records, CompressionNone)
			setBaseOffset(got, goldenBaseOffset)
			want := golden(t, name, got)
			assert.Equal(t, want, got, "the encoding of %s changed: that is a format change", name)
			_, decoded := decodeBatch(t, want, 0)
			assertRecordsEqual(t, withOffsets(records, goldenBaseOffset), decoded)
		})
	}
}

// TestBatchGoldenCompressed pins compressed batches. Compressed bytes may
// change with the klauspost/compress version, so the test pins what must
// not change: the stored files still decode, their header equals the
// uncompressed golden's apart from length, CRC and codec, and their records
// area decompresses to exactly the uncompressed golden's records area.
func TestBatchGoldenCompressed(t *testing.T) {
	records := goldenHeaderRecords()
	plain, err := os.ReadFile(goldenPath("uncompressed_headers"))
	require.NoError(t, err)
	for _, c := range testCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			got := encodeBatch(t, records, c)
			setBaseOffset(got, goldenBaseOffset)
			want := golden(t, c.String(), got)
			if string(want) != string(got) {
				t.Logf("%s encoder output differs from the stored golden (library version change?); checking content", c)
			}

			h, decoded := decodeBatch(t, want, 0)
			assert.Equal(t, c, h.compression())
			assertRecordsEqual(t, withOffsets(records, goldenBaseOffset), decoded)

			ph, err := parseBatchHeader(plain)
			require.NoError(t, err)
			ph.Length, ph.CRC, ph.Attributes = h.Length, h.CRC, h.Attributes
			assert.Equal(t, ph, h, "header fields other than length, crc and codec")

			area, err := decompress(nil, want[batchHeaderSize:], c, testLimit)
			require.NoError(t, err)
			assert.Equal(t, plain[batchHeaderSize:], area, "decompressed records area")

			_, fresh := decodeBatch(t, got, 0)
			assertRecordsEqual(t, withOffsets(records, goldenBaseOffset), fresh)
		})
	}
}
