package eventlog

import (
	"fmt"
	"unsafe"
)

// A record's headers cost a copying read far more memory than they take in
// the batch: an empty header is 2 bytes there (key length 0, value length
// -1) and a Header of headerSize bytes (40 on 64-bit platforms) in the
// Record a read returns. Decompressed, a batch may hold a gigabyte (see
// maxReadDecompressedBytes), so that a few KiB of zstd would make a read
// allocate tens of gigabytes of Header values. The copying reads (Read,
// Poll and the typed consumer's) count the headers in their copy budget
// (copy_budget.go), and stop a batch of many in parts; but one record
// cannot be split, and they, Records and ReadToEnd make at most
// maxReadHeaders headers of one record, as much memory as the least limit
// on what a read decompresses of a batch. The appends refuse a batch that
// holds more than maxAppendHeaders, which is never more: whatever is
// acknowledged reads back. (The library's own whole-batch decodes, of
// internal topics and the producer's batches, keep maxReadHeaders for the
// headers of a batch.) Views and Cursors do not copy headers and read
// every record.

// headerSize is the memory of one Header of a Record.
const headerSize = int(unsafe.Sizeof(Header{}))

// maxReadHeaders is the most headers a copying read makes of one record:
// minReadDecompressedBytes of them (26,843,545 on 64-bit platforms). It does not rise with the partition's max batch bytes, as the
// limit on decompression does: no append takes more (see maxAppendHeaders).
const maxReadHeaders = minReadDecompressedBytes / headerSize

// maxAppendHeaders is the most headers the records of one batch may have for
// an append to take them: as many as take the memory the batch may
// decompress to (maxAppendDecompressedBytes; 1,677,740 headers on 64-bit
// platforms for the default max batch bytes), never more than
// maxReadHeaders.
func maxAppendHeaders(maxBatchBytes int) int {
	return maxAppendDecompressedBytes(maxBatchBytes) / headerSize
}

// headersError is the error of a copying read of a record that has more
// headers than it makes (maxReadHeaders), or of a whole-batch decode of a
// batch whose records have. It is no damage: the batch is sound, and the
// views read it.
type headersError struct {
	offset  int64 // of the record that passed the limit
	headers int   // of that record
	batch   int   // of the records of the batch read, up to it
	limit   int
}

func (e *headersError) Error() string {
	what, of := fmt.Sprintf("record at offset %d has %d headers", e.offset, e.headers), "record"
	if e.batch > e.headers {
		what += fmt.Sprintf(", %d with those of the records before it in its batch", e.batch)
		of = "batch"
	}
	return fmt.Sprintf("%s, more than the %d (%d bytes of Header values) a copying read makes of one %s: read it with views (Partition.Views, Consumer.Views, a Cursor), which do not copy headers",
		what, e.limit, e.limit*headerSize, of)
}
