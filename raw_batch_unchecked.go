package eventlog

// ReadBatchesUnchecked is ReadBatches without the CRC-32C check of the
// batches it returns, for a server that hands them to clients which check
// the CRCs themselves, as a Kafka broker's fetch does: the broker checks
// produced batches and its own recovery, and leaves the check of what it
// serves to the consumer (check.crcs, on by default in the Java client and
// franz-go). Checking costs a pass over every byte served, as much as
// writing them to a socket.
//
// Everything else is checked as ReadBatches checks it, and reported the
// same way: each batch's header must parse, the batch lie whole in its
// segment, below the high watermark, and follow the one before. Damage
// inside a batch's records is not seen here; the Log's own reads
// (Consumer, Partition.Read, compaction) still check every CRC.
func (p *Partition) ReadBatchesUnchecked(offset int64, maxBytes int) (batches []byte, release func(), err error) {
	return p.readBatches(offset, maxBytes, false)
}
