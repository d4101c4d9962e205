package eventlog

import "unsafe"

// A copying read (Partition.Read, and Consumer.Poll and the typed
// consumer's Poll through it) makes a Record of 128 bytes (on 64-bit
// platforms) for each record, a Header of 40 for each header, and one copy
// of the records area, where a record may take 7 bytes and a header 2.
// Decompressed, a batch may hold up to maxReadDecompressedBytes: a 1 MiB
// zstd batch that an append takes holds over a million empty records, and
// a hostile file's batch a gigabyte of them. Read in whole batches, they
// cost 19 times what they decompress to.
//
// So a copying read counts what it makes, in the bytes of a copyBudget: for
// each record the Record, its Headers and its bytes in the records area
// (recordCopySize). It stops a batch before the record that would take
// what it made of the batch past the budget, and returns the records before
// it: a partial batch, which the next read goes on from, at the record
// after the last one returned. It takes no further batch once what it made
// passes the budget. At least one record is made, however large; a record
// of more headers than maxReadHeaders fails the read (see headersError):
// it cannot be split, and no append stores it.
//
// The budget of a read is its maxBytes, or what an append lets one batch
// of the partition decompress to (maxAppendDecompressedBytes: 64 MiB for
// the default MaxBatchBytes, 64 times MaxBatchBytes up to 1 GiB) when that
// is more. That floor is memory the read already risks on decompression,
// and a batch that an append stores uncompressed, within MaxBatchBytes,
// takes less than 21 times its size: every such batch comes back whole for
// a MaxBatchBytes up to 48 MiB, as every batch of ordinary records does
// (1,000 records of 100 bytes make about 240 KB). The Records, Headers and
// records area a read makes of one batch take at most the budget, and of
// all its batches less than twice the budget, beyond a first record larger
// than it; the decompressed batch (at most maxReadDecompressedBytes) is
// scratch, reused or dropped after each batch.
//
// Views and Cursors copy nothing and read every record of a batch; the
// Consumer's Records and ReadToEnd clone views one record at a time.

// recordStructSize is the memory of one Record.
const recordStructSize = int64(unsafe.Sizeof(Record{}))

// copyBudget is what decodeWithin may make of one batch, and what it made.
type copyBudget struct {
	limit int64 // bytes of copies of one batch's records; the first record kept passes it if it must
	made  int64 // set by decodeWithin: bytes of the copies it made (recordCopySize)
	cut   bool  // set by decodeWithin: it stopped before the end of the batch
}

// readCopyBudget is the budget of a copying read of maxBytes of batches of
// a partition of max batch bytes maxBatchBytes (see above).
func readCopyBudget(maxBytes, maxBatchBytes int) int64 {
	return max(int64(maxBytes), int64(maxAppendDecompressedBytes(maxBatchBytes)))
}

// recordCopySize is what a copying read makes of the record f: the Record,
// its Headers and its bytes, which the copy of the records area holds.
func recordCopySize(f *recordFields) int64 {
	return recordStructSize + int64(f.headers)*int64(headerSize) + int64(f.end-f.start)
}

// mayPassBudget reports whether records records in bytes bytes of a
// records area might make more than limit: a header takes 2 bytes at
// least, so the headers of the records cost at most headerSize/2 per
// byte. For a batch within it, decodeWithin need not find where to stop.
func mayPassBudget(records, bytes int, limit int64) bool {
	return int64(records)*recordStructSize+int64(bytes)*int64((headerSize+1)/2+1) > limit
}

// budgetEnd walks it, a copy of the iterator of the batch decodeWithin
// decodes, to find where its records from minOffset on pass limit: the
// start of the first record that would take them past it (the first is
// always made), or the end of the area. It returns that with the number of
// records before it.
func budgetEnd(it recordIter, minOffset, limit int64) (end, records int, err error) {
	var (
		f    recordFields
		made int64
	)
	for {
		if err := it.next(&f); err == errBatchEnd {
			return len(it.area), records, nil
		} else if err != nil {
			return 0, 0, err
		}
		if f.offset < minOffset {
			continue
		}
		if made += recordCopySize(&f); made > limit && records > 0 {
			return f.start, records, nil
		}
		records++
	}
}
