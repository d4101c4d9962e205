package eventlog

// Test hooks of the log cleaner, for the black-box tests.

// SetCleanerHash makes l's cleaner hash keys with h instead of xxhash, to
// force collisions; nil restores xxhash.
func SetCleanerHash(l *Log, h func([]byte) uint64) {
	if h == nil {
		l.cleaner.hash.Store(nil)
		return
	}
	l.cleaner.hash.Store(&h)
}

// SetCleanerFailpoint makes l's cleaner call fn after each step of a swap
// (CleanerSwapSteps); an error stops the swap there. nil removes it.
func SetCleanerFailpoint(l *Log, fn func(step string) error) {
	if fn == nil {
		l.cleaner.failpoint.Store(nil)
		return
	}
	l.cleaner.failpoint.Store(&fn)
}

// CleanerSwapSteps names the steps of a swap, in order.
var CleanerSwapSteps = swapSteps

// CleanerSwapCommitStep is the step from which a crash leaves the new
// segments.
const CleanerSwapCommitStep = swapStepCommitted

// ProducerEpoch returns the epoch and last sequence (-1 without a batch)
// that p remembers of producer id; ok is false when it remembers none.
func ProducerEpoch(p *Partition, id int64) (epoch int16, lastSeq int32, ok bool) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	e := p.producers.producers[id]
	if e == nil {
		return 0, 0, false
	}
	lastSeq = -1
	if n := len(e.batches); n > 0 {
		lastSeq = e.batches[n-1].lastSeq
	}
	return e.epoch, lastSeq, true
}

// CleanerSwapPublishedStep is the step after the new segments are listed.
const CleanerSwapPublishedStep = swapStepPublished
