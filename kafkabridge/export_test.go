package kafkabridge

import "github.com/eventlog/eventlog"

// SetForwardCommitHook makes f call fn after every commit that succeeded,
// on the goroutine running Run.
func SetForwardCommitHook(f *Forward, fn func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)) {
	f.onCommit = fn
}

// SetMirrorCommitHook makes m call fn after every commit that succeeded, on
// the goroutine running Run.
func SetMirrorCommitHook(m *Mirror, fn func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)) {
	m.onCommit = fn
}

// ParseProgressMetadata exposes the format of a Mirror's committed
// metadata.
var ParseProgressMetadata = parseProgressMetadata
