// Package kafkabridge connects an eventlog Log to a Kafka cluster, both
// ways, with franz-go's kgo client:
//
//   - Forward replicates local topics to the cluster: the outbox of a service
//     that writes its events locally, durably and fast, and publishes them
//     to Kafka as the cluster can take them.
//   - Mirror copies Kafka topics into local topics: a service reads a
//     cluster's topic through the embedded log, offline-capable and at
//     memory speed.
//
// It is a separate module so that the core's importers never download a
// Kafka client.
//
//	f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{
//		Brokers:     []string{"kafka-1:9092"},
//		Topics:      []string{"orders"}, // or TopicPattern: regexp.MustCompile(`^outbox\.`)
//		RemoteTopic: func(local string) string { return "shop." + local },
//		Logger:      logger, // a *slog.Logger
//	})
//	if err != nil { ... }
//	go func() { errc <- f.Run(ctx) }() // until ctx ends: then flush, commit, close
//
//	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{
//		Brokers: []string{"kafka-1:9092"},
//		Topics:  []string{"prices"},
//	})
//	err = m.Run(ctx)
//
// Run blocks until its context ends, and then shuts down cleanly (Forward:
// waits up to ShutdownTimeout for the cluster's acknowledgements and commits
// them), or until the bridge fails; it returns nil after a clean shutdown,
// the error otherwise. No goroutine of the bridge outlives Run. A Forward or
// Mirror runs once; a new one resumes from the progress the last one stored.
// A local topic deleted while a Forward reads it does not stop it: as any
// subscribed consumer, its consumer skips the topic's partitions until the
// group takes them away, and the other topics go on. A topic created again
// under the deleted one's name is forwarded from its start: progress in the
// deleted topic is never committed to the new one. TLS, SASL and other
// client settings go in ClientOptions as kgo options.
//
// # Forward: delivery guarantees
//
// A Forward is a member of a local consumer group (ForwardOptions.GroupID)
// subscribed to the chosen topics. It sends each record to the partition of
// the same number of the remote topic with kgo's idempotent producer
// (acks=all), which keeps the order of a partition's records across
// retries and never writes a retried batch twice. It commits a partition's
// offset to the local group only once the cluster acknowledged every record
// before it. The commit moves past the transaction markers and the records
// of aborted transactions that follow the last record acknowledged, as the
// position a Kafka consumer in read_committed commits does, so that
// Log.GroupOffsets shows no lag once everything is forwarded: markers and
// aborted records written after the last record forwarded, with no record
// after them, are passed by a commit within CommitInterval of the
// Forward's consumer reading them, once the cluster acknowledged every
// record sent. Hence:
//
//   - At least once, in order per partition: every local record reaches the
//     cluster; the records of a local partition appear on its remote
//     partition in local order. After a crash, the next Run sends again what
//     was sent and not committed, from the committed offset on, so the
//     remote partition holds the local sequence with, at each crash, a run of
//     records repeated: at most MaxUncommitted of them (the kill tests check
//     both, and that a re-sent run starts exactly at a committed offset).
//   - Keys land where Kafka would put them: local partition N goes to remote
//     partition N, and the library's partitioner is Kafka's (murmur2 of the
//     key modulo the partition count), so with equal partition counts a
//     keyed record is on the partition a Kafka producer would choose.
//     A remote topic with fewer partitions stops the Forward with
//     ErrPartitionMismatch, unless CreateTopics lets the Forward add the
//     partitions it lacks (also those the local topic gains while the
//     Forward runs); one with more is used, partition numbers kept,
//     with a warning, since keys are then not where Kafka's partitioner would
//     put them for the remote count. A missing remote topic stops it with
//     ErrRemoteTopicMissing unless CreateTopics creates it. One deleted
//     while the Forward runs stops it too, with an error naming it and
//     wrapping ErrRemoteTopicMissing, about a second after the cluster
//     last answered (rather than once the Kafka client gives up, some 20
//     seconds on), even with CreateTopics: a topic re-created behind the
//     deletion would hide it, and hold only the records after the
//     progress. The next Run creates it again with CreateTopics and
//     forwards from the progress; what the deleted topic held is not sent
//     again (a new GroupID forwards everything).
//   - Keys and values keep null distinct from empty, headers (null values
//     included) and timestamps are kept, as CreateTime. A remote topic with
//     message.timestamp.type=LogAppendTime replaces them, as Kafka does.
//   - A record the cluster refuses (too large for the remote topic, not
//     authorized, ...) stops the Forward with an error naming its local
//     topic, partition and offset; the records before it are committed,
//     it and those after it are not. Batches are capped by the remote
//     topic's max.message.bytes, so that a record too large for it is
//     refused alone, and records that fit are never refused for sharing
//     a batch too large.
//
// What is committed on the local side is, as for any group, only as durable
// as the Log: on a DurabilityOS Log a power loss may take commits back (more
// records are sent again) and records (eventlog then lowers the commit to
// the log end, and the offsets of the lost records go to new records, which
// are forwarded too).
//
// # Mirror: delivery guarantees and the duplicate window
//
// A Mirror consumes the remote partitions directly (no Kafka group) and
// appends each fetched partition's records as one batch (several where
// they exceed the local partition's Partition.MaxBatchBytes, each filled
// up to it) to the local partition of the same number, at the local
// topic's durability, with their keys, values, headers and timestamps.
// After each fetch it commits, in one commit to the local group
// MirrorOptions.GroupID, the progress of every partition that moved: the
// commit's offset is the local offset after the last record mirrored, and
// its metadata the remote position,
// "<remote topic>@<remote offset after the last record> <local offset>",
// followed by " <remote topic ID>" (32 hex digits) where the cluster tells
// it (Kafka 2.8 on).
// Log.GroupOffsets shows it; the lag of that group is zero once the
// Mirror has caught up. A Run resumes each remote partition at the stored
// remote offset.
//
// An append and its commit are two writes, so a crash between them leaves
// records after the commit. The next Run does not append them twice: it
// compares the remote records it fetches from the stored position with
// those local records, key, value, headers and timestamp, and skips each
// that matches (or that local retention deleted meanwhile, which it
// cannot compare: each stands for the next remote record, as it was
// appended from it). Records are therefore mirrored once, unless the remote
// records in that window changed in between (compacted away, deleted by
// retention or DeleteRecords): then the Mirror appends from the first
// difference on, and what the last Run appended stays — at most one
// fetch's records per partition (MaxPartitionFetchBytes) are duplicated,
// none lost. The kill tests kill a Mirror at random points and find every
// remote record exactly once. If a power loss took mirrored records of a
// DurabilityOS local topic, the commit's metadata shows how many, and the
// Mirror restarts that many remote offsets earlier (each record took at
// least one), so none is lost.
//
// A remote record larger than the local partition's MaxBatchBytes on its
// own stops the Run with an error wrapping eventlog.ErrRecordTooLarge; the
// records before it are committed, and the next Run starts at it.
//
// A remote topic deleted while a Mirror runs stops it at its first fetch
// of the topic that fails, with an error naming the topic and wrapping
// ErrRemoteTopicMissing, as a topic missing when it starts does, rather
// than after the Kafka client's retries give up on it.
//
// Remote records deleted before they are mirrored (retention faster than the
// Mirror) are lost to it: kgo resets to the remote log start (or end, with
// StartAtEnd), and the Mirror logs the loss. A remote partition whose end
// went below the Mirror's progress (its topic deleted and created again, or
// records the cluster lost) is reset by kgo the same way, and the Mirror,
// with a warning, mirrors its records from there: they are new ones, not
// the ones it mirrored at those offsets (records the cluster kept are then
// mirrored twice). A topic created again that already holds more records
// than the progress is told apart by its topic ID and mirrored from its
// start, with a warning, by the next Run: one running meanwhile stops at
// its first fetch of the topic that is gone, with an error saying that
// the topic was deleted and created again (wrapping the cluster's
// UNKNOWN_TOPIC_ID); one whose client loaded the new topic without such a
// failed fetch stops, with the same error, at the first fetch that returns
// the new topic's records, before appending any. Only on a cluster that
// does not tell topic IDs (before Kafka 2.8), or whose fetches do not
// carry them (before Kafka 3.1) when the topic is created again between
// two fetches, are the new topic's records below the progress not
// mirrored. Partitions added to a remote topic are mirrored from the next
// Run, which adds them to the local topic as MirrorMaker does to its
// target (a local topic the Mirror has not yet mirrored into, and that has
// fewer partitions than the remote one, stops it with
// ErrPartitionMismatch instead). Let nothing else write to a
// Mirror's local topics, and run one Mirror per GroupID at a time.
//
// # The same semantics on both sides, and where they differ
//
// One conformance suite (conformance_test.go) states the library's
// producer and consumer semantics — order within a partition, a key's
// partition, null keys and values, headers and timestamps, seeking to the
// beginning, an offset, a time and the end, committed offsets per group,
// consuming again after a restart what was not committed — and runs
// unchanged on the embedded log, from a local producer through a Forward to
// a kgo consumer of the cluster, and from a kgo producer through a Mirror to
// a local consumer. It passes on all three. The differences it allows, and
// the ones it does not exercise:
//
//   - Offsets: a Forward gives remote records the local offsets only while
//     the remote topic started empty and nothing was sent twice; a Mirror
//     gives local records the remote offsets only while the remote partition
//     started at offset 0 and has no gaps (compaction, transaction markers,
//     aborted records skipped with ReadCommitted). Consumers should not
//     rely on offsets being equal across the bridge; the suite compares them
//     only on fresh topics.
//   - Latency: a record is on the other side once the bridge forwarded it
//     (kgo's linger, a fetch, a commit), not when the producer's send
//     returns.
//   - Duplicates: the embedded log has none; the bridge's are described
//     above.
//   - Committed offsets belong to the consuming side: a Kafka group for a
//     Forward's readers, a local group for a Mirror's. Groups are not
//     bridged, and neither are group offsets.
//   - Keyless records go where the producing side's sticky partitioner
//     puts them (eventlog's or Kafka's, each uniform sticky); the bridge then
//     keeps their partition numbers.
//   - Batches are rebuilt: the Forward compresses with
//     ForwardOptions.Compression, the Mirror appends uncompressed batches
//     of at most the local partition's MaxBatchBytes (the topic's
//     max.message.bytes, or the Log's).
//   - Transactions: a Forward reads committed records only
//     (read_committed): the records of a local transaction are forwarded
//     once it commits, as ordinary records (not in a transaction on the
//     cluster), and those of an aborted one never. A Mirror reads
//     read_uncommitted by default, as Kafka consumers do, so records of
//     aborted transactions are mirrored; set ReadCommitted to skip them.
//     Markers are never bridged.
//   - Compaction: a Forward sends what survived the local cleaner when it
//     read the records; tombstones travel as null values.
//   - Seeks to the beginning and the end are resolved lazily by eventlog's
//     Consumer and by Kafka's Java consumer (at the next poll or position);
//     the suite asks the position, as portable code does.
//   - kfake answers an offset fetch for an unknown group with
//     GROUP_ID_NOT_FOUND where Kafka returns no offsets; the suite's kgo
//     consumer reads both as "nothing committed".
package kafkabridge
