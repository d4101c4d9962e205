package kafkabridge

import "github.com/eventlog/eventlog"

// SetForwardCommitHook makes f call fn after every commit that succeeded,
// on the goroutine running Run.
func SetForwardCommitHook(f *Forward, fn func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)) {
	f.onCommit = fn
}

// SetForwardBeforeCommitHook makes f call fn before every commit that has
// acknowledged records to commit, on the goroutine running Run.
func SetForwardBeforeCommitHook(f *Forward, fn func()) {
	f.beforeCommit = fn
}

// SetMirrorCommitHook makes m call fn after every commit that succeeded, on
// the goroutine running Run.
func SetMirrorCommitHook(m *Mirror, fn func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)) {
	m.onCommit = fn
}

// SetMirrorAppendHook makes m call fn after every local append with the
// number of records it held and its error, on the goroutine running Run.
func SetMirrorAppendHook(m *Mirror, fn func(records int, err error)) {
	m.onAppend = fn
}

// ParseProgressMetadata exposes the format of a Mirror's committed
// metadata.
var ParseProgressMetadata = parseProgressMetadata

// RecordBytes and BatchHeaderBytes expose how the Mirror sizes a local
// batch.
var RecordBytes = recordBytes

const BatchHeaderBytes = batchHeaderBytes

// SetForwardWaitHook makes f call fn whenever it starts waiting for the
// cluster with MaxUncommitted records uncommitted, on the goroutine running
// Run.
func SetForwardWaitHook(f *Forward, fn func()) {
	f.onWait = fn
}

// SetForwardRevokeHook makes f call fn when a rebalance takes partitions
// away, before it waits for the cluster's acknowledgements, on the
// goroutine running Run.
func SetForwardRevokeHook(f *Forward, fn func()) {
	f.onRevoke = fn
}
