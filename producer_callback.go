package eventlog

// A Producer's SendAsync functions run on the goroutine that appends their
// partition's batches, and the batches after theirs wait for them to
// return. A function that calls what waits for appends (Send, Flush,
// Close, a transaction's end, Log.Close) would wait for itself; such calls
// find out they run inside one and fail instead.

// runCallback calls a SendAsync function. It is never inlined, so that its
// frame is on the stack of the goroutine while fn runs, where
// calledFromCallback looks for it.
//
//go:noinline
func runCallback(fn func(RecordMetadata, error), md RecordMetadata, err error) {
	fn(md, err)
}

var runCallbackEntry = funcEntry(runCallback)

// calledFromCallback reports whether the calling goroutine is inside a
// SendAsync function of one of l's Producers. It costs a walk of the stack
// (0.5 µs, 2 µs thirty frames deep) while any goroutine runs such
// functions (l.callbacks counts them, per batch), and an atomic load
// otherwise.
func (l *Log) calledFromCallback() bool {
	return l.callbacks.Load() != 0 && onStack(runCallbackEntry)
}

// errFromCallback is the error of a call that would wait for the
// SendAsync function it is called from.
func errFromCallback(call string) error {
	return errorf("eventlog: %s from a SendAsync function, which would wait for appends the function holds up: %w", call, ErrConcurrentUse)
}
