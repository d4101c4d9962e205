package kafkabridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync/atomic"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Mirror copies Kafka topics into local topics: the reverse direction.
// Each remote partition goes to the local partition of the same number,
// records in the order of their remote offsets, with their keys, values,
// headers and timestamps. Its progress is stored in the local Log (see the
// package documentation), so that a Mirror run again resumes where the last
// one stopped. Make one with NewMirror and run it with Run. Run one Mirror
// per GroupID at a time, and let nothing else write to its local topics.
type Mirror struct {
	log  *eventlog.Log
	opts MirrorOptions
	ran  atomic.Bool

	// onCommit, set by tests through export_test.go, hears of every commit
	// that succeeded, on the goroutine running Run.
	onCommit func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	// onAppend, set by tests through export_test.go, hears of every local
	// append, the records it held and its error, on the goroutine running
	// Run.
	onAppend func(records int, err error)
}

// NewMirror returns a Mirror from the cluster opts describes into l. It
// checks the options and connects nowhere yet; Run does the work.
func NewMirror(l *eventlog.Log, opts *MirrorOptions) (*Mirror, error) {
	if l == nil {
		return nil, fmt.Errorf("kafkabridge: NewMirror without a Log: %w", eventlog.ErrInvalidConfig)
	}
	if opts == nil {
		opts = &MirrorOptions{}
	}
	o := *opts
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Mirror{log: l, opts: o}, nil
}

// Run mirrors records until ctx ends or the bridge fails. It first looks up
// the remote topics, creates missing local topics, and reads the stored
// progress; then it fetches, appends each partition's records as a batch,
// and commits the progress of the partitions a fetch touched. When ctx ends,
// what was appended is committed, and the consumer and the Kafka client are
// closed, so that no goroutine of the bridge outlives Run. It returns nil
// after a clean shutdown that ctx ending started, and otherwise the error
// that stopped it; closing the Log or deleting a local topic stops it at
// once, with an error wrapping eventlog.ErrClosed or
// eventlog.ErrTopicNotFound, even while it waits for remote records.
func (m *Mirror) Run(ctx context.Context) error {
	if !m.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	r := &mirrorRun{
		m:      m,
		logger: m.opts.Logger.With("bridge", "mirror", "group", m.opts.GroupID),
		parts:  make(map[eventlog.TopicPartition]*mirrorPartition),
	}
	starts, err := r.prepare(ctx)
	if err == nil {
		err = r.loop(ctx, starts)
	} else if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		err = nil // stopped while starting: a clean shutdown
	}
	if r.consumer != nil {
		if cerr := r.consumer.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("kafkabridge: mirror: closing the local consumer: %w", cerr))
		}
	}
	r.logger.Info("stopped")
	return err
}

// mirrorRun is the state of one Run, owned by the goroutine running it.
type mirrorRun struct {
	m        *Mirror
	logger   *slog.Logger
	consumer *eventlog.Consumer                           // commits and reads the progress; no subscription
	parts    map[eventlog.TopicPartition]*mirrorPartition // by local partition
	byRemote map[string]string                            // remote topic -> local topic
	ids      map[string][16]byte                          // remote topic -> its ID when Run started, zero if unknown
}

// mirrorPartition is the progress of one partition.
type mirrorPartition struct {
	remote     string
	local      *eventlog.Partition
	batchBytes int // the bytes of records (recordBytes) an append may take
	// topicID is the remote topic's ID, as the last fetch of the partition
	// or Run's start told it; zero if the cluster does not tell.
	topicID [16]byte

	localNext  int64 // the offset after the last record mirrored
	remoteNext int64 // the remote offset after the last record mirrored
	dirty      bool  // moved since the last commit
	// positioned is set once remoteNext is where the Mirror stands, stored
	// or reached, rather than 0 for a partition it has not started: only
	// then are remote records from a later offset on a loss.
	positioned bool

	// While verifying, records after the last commit are compared with
	// what the cluster sends again: the last Run appended them and stopped
	// before committing. Each remote record equal to the next of them
	// is skipped rather than appended again. verifyEnd is the local high
	// watermark at the start; pending holds local records read ahead.
	verifyNext int64
	verifyEnd  int64
	pending    []eventlog.Record
	skipped    int
}

// prepare looks up the remote topics, makes sure the local ones can take
// them, and reads the stored progress. It returns where each remote
// partition starts.
func (r *mirrorRun) prepare(ctx context.Context) (map[string]map[int32]kgo.Offset, error) {
	o := &r.m.opts
	meta, err := kgo.NewClient(append(append([]kgo.Opt(nil), o.ClientOptions...),
		kgo.SeedBrokers(o.Brokers...), kgo.WithLogger(kgoLogger{o.Logger}))...)
	if err != nil {
		return nil, fmt.Errorf("kafkabridge: mirror: Kafka client: %w", err)
	}
	defer meta.Close()
	counts, ids, err := remotePartitions(ctx, meta, o.Topics)
	if err != nil {
		return nil, err
	}
	r.ids = ids

	r.consumer, err = r.m.log.NewConsumer(&eventlog.ConsumerOptions{GroupID: o.GroupID, DisableAutoCommit: true})
	if err != nil {
		return nil, fmt.Errorf("kafkabridge: mirror: local consumer group %q: %w", o.GroupID, err)
	}
	r.byRemote = make(map[string]string, len(o.Topics))
	starts := make(map[string]map[int32]kgo.Offset, len(o.Topics))
	var atEnd []eventlog.TopicPartition // local partitions without progress that start at the remote end
	for _, remote := range o.Topics {
		n, ok := counts[remote]
		if !ok {
			return nil, fmt.Errorf("kafkabridge: mirror: remote topic %q: %w", remote, ErrRemoteTopicMissing)
		}
		local := o.LocalTopic(remote)
		r.byRemote[remote] = local
		have, err := r.localTopic(ctx, meta, local, remote, n)
		if err != nil {
			return nil, err
		}
		tps := make([]eventlog.TopicPartition, n)
		for p := range tps {
			tps[p] = eventlog.TopicPartition{Topic: local, Partition: int32(p)}
		}
		committed, err := r.consumer.Committed(ctx, tps[:min(have, n)]...)
		if err != nil {
			return nil, fmt.Errorf("kafkabridge: mirror: progress of local topic %q in group %q: %w", local, o.GroupID, err)
		}
		if have < n {
			if err := r.growLocalTopic(ctx, local, remote, have, n, committed); err != nil {
				return nil, err
			}
		}
		// With StartAtEnd, the first Run stores where every partition
		// starts (settleEnds): a partition without progress in a topic
		// with some was added to the remote topic since, and every record
		// of it is one produced after the mirroring began.
		fromEnd := o.StartAtEnd && len(committed) == 0
		starts[remote] = make(map[int32]kgo.Offset, n)
		for _, tp := range tps {
			st, start, err := r.partitionProgress(tp, remote, committed, fromEnd)
			if err != nil {
				return nil, err
			}
			r.parts[tp] = st
			starts[remote][tp.Partition] = start
			if _, ok := committed[tp]; !ok && fromEnd {
				atEnd = append(atEnd, tp)
			}
		}
	}
	if err := r.settleEnds(ctx, meta, atEnd, starts); err != nil {
		return nil, err
	}
	return starts, nil
}

// settleEnds resolves the remote end where each of parts, partitions
// without stored progress, starts (StartAtEnd), and commits it as their
// progress before anything is mirrored, as a Kafka consumer with
// auto.offset.reset=latest commits the position it reset to. Without it,
// a partition that stays quiet during a Run would start at the end again on
// the next Run, and lose what was produced to it in between. The end is
// the last stable offset with ReadCommitted, as Kafka's ListOffsets gives
// a read_committed consumer.
func (r *mirrorRun) settleEnds(ctx context.Context, meta *kgo.Client, parts []eventlog.TopicPartition, starts map[string]map[int32]kgo.Offset) error {
	if len(parts) == 0 {
		return nil
	}
	var remotes []string
	for _, tp := range parts {
		if remote := r.parts[tp].remote; !slices.Contains(remotes, remote) {
			remotes = append(remotes, remote)
		}
	}
	adm := kadm.NewClient(meta)
	list := adm.ListEndOffsets
	if r.m.opts.ReadCommitted {
		list = adm.ListCommittedOffsets
	}
	ends, err := list(ctx, remotes...)
	if err != nil {
		return fmt.Errorf("kafkabridge: mirror: end offsets of remote topics %q: %w", remotes, err)
	}
	for _, tp := range parts {
		st := r.parts[tp]
		end, ok := ends.Lookup(st.remote, tp.Partition)
		switch {
		case !ok:
			return fmt.Errorf("kafkabridge: mirror: end offset of remote topic %q partition %d: not listed", st.remote, tp.Partition)
		case end.Err != nil:
			return fmt.Errorf("kafkabridge: mirror: end offset of remote topic %q partition %d: %w", st.remote, tp.Partition, end.Err)
		}
		starts[st.remote][tp.Partition] = kgo.NewOffset().At(end.Offset)
		// Records already in the local topic are none of this remote
		// partition's: mirrored records go after them.
		st.remoteNext = end.Offset
		st.localNext = st.local.HighWatermark()
		st.verifyNext, st.verifyEnd = st.localNext, st.localNext
		st.dirty = true
		st.positioned = true
	}
	return r.commit(ctx)
}

// localTopic makes sure the local topic exists, creating it if it does not
// with partitions partitions and the settings of the remote topic
// (localTopicConfig), and returns its partition count.
func (r *mirrorRun) localTopic(ctx context.Context, meta *kgo.Client, local, remote string, partitions int) (int, error) {
	cfg, err := r.m.log.TopicConfig(local)
	if errors.Is(err, eventlog.ErrTopicNotFound) {
		var create eventlog.TopicConfig
		if create, err = r.localTopicConfig(ctx, meta, remote); err != nil {
			return 0, err
		}
		create.Partitions = partitions
		err = r.m.log.CreateTopic(local, create)
		if err == nil || errors.Is(err, eventlog.ErrTopicExists) {
			r.logger.Info("created local topic", "topic", local, "partitions", partitions, "config", create)
			cfg, err = r.m.log.TopicConfig(local)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("kafkabridge: mirror: local topic %q: %w", local, err)
	}
	return cfg.Partitions, nil
}

// localTopicConfig returns the settings a Mirror creates the local topic
// of remote with: those set on the remote topic itself, among
// cleanup.policy, max.message.bytes, and the retention and compaction
// settings, so that a compacted topic stays compacted. What the remote
// topic leaves to the cluster's defaults is left to the Log's, as
// MirrorMaker 2 leaves defaults to its target: the Log's MaxBatchBytes,
// in particular, stays the limit on the records of a topic without a
// max.message.bytes of its own. A cluster that does not tell
// (DescribeConfigs not authorized), and a value the Log cannot take, leave
// the setting to the Log's default, with a warning; ctx ending returns its
// error, so that no topic is created without them for good.
func (r *mirrorRun) localTopicConfig(ctx context.Context, meta *kgo.Client, remote string) (eventlog.TopicConfig, error) {
	var cfg eventlog.TopicConfig
	configs, err := kadm.NewClient(meta).DescribeTopicConfigs(ctx, remote)
	if err == nil {
		var rc kadm.ResourceConfig
		rc, err = configs.On(remote, nil)
		if err == nil {
			err = rc.Err
		}
		if err == nil {
			for _, c := range rc.Configs {
				if c.Value == nil || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					continue
				}
				if err := setTopicConfig(&cfg, c.Key, *c.Value); err != nil {
					r.logger.Warn("a setting of the remote topic is not carried to the local topic", "topic", remote, "config", c.Key, "value", *c.Value, "error", err)
				}
			}
			return cfg, nil
		}
	}
	if ctx.Err() != nil {
		return cfg, fmt.Errorf("kafkabridge: mirror: settings of remote topic %q: %w", remote, ctx.Err())
	}
	r.logger.Warn("cannot read the settings of a remote topic: its local topic is created with the Log's", "topic", remote, "error", err)
	return cfg, nil
}

// growLocalTopic adds to a local topic with fewer partitions than its remote
// topic the partitions it lacks, if the Mirror has mirrored remote into it
// (committed holds its progress): the remote topic gained them since. A
// local topic it has not mirrored into is not its to change, and stops it
// with ErrPartitionMismatch.
func (r *mirrorRun) growLocalTopic(ctx context.Context, local, remote string, have, want int, committed map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) error {
	ours := false
	for _, c := range committed {
		if p, err := parseProgress(c.Metadata); err == nil && p.remote == remote {
			ours = true
		}
	}
	if !ours {
		return fmt.Errorf("kafkabridge: mirror: remote topic has %d partitions and local topic %q only %d: %w",
			want, local, have, ErrPartitionMismatch)
	}
	if err := r.m.log.CreatePartitions(ctx, local, want); err != nil {
		return fmt.Errorf("kafkabridge: mirror: adding to local topic %q the partitions remote topic %q gained (%d to %d): %w",
			local, remote, have, want, err)
	}
	r.logger.Info("added the partitions the remote topic gained to the local topic", "topic", local, "remote_topic", remote,
		"partitions", have, "remote_partitions", want)
	return nil
}

// partitionProgress reads one partition's stored progress and sets up the
// verification of what was appended after it.
// Without progress, it starts at the remote end if fromEnd, and at the
// remote start otherwise.
func (r *mirrorRun) partitionProgress(tp eventlog.TopicPartition, remote string, committed map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, fromEnd bool) (*mirrorPartition, kgo.Offset, error) {
	part, err := r.m.log.Partition(tp.Topic, tp.Partition)
	if err != nil {
		return nil, kgo.Offset{}, fmt.Errorf("kafkabridge: mirror: %w", err)
	}
	st := &mirrorPartition{
		remote:     remote,
		topicID:    r.ids[remote],
		local:      part,
		batchBytes: part.MaxBatchBytes() - batchHeaderBytes,
		localNext:  part.LogStartOffset(),
		verifyEnd:  part.HighWatermark(),
	}
	start := kgo.NewOffset().AtStart()
	if fromEnd {
		start = kgo.NewOffset().AtEnd()
	}
	if c, ok := committed[tp]; ok {
		p, err := parseProgress(c.Metadata)
		switch {
		case err != nil:
			return nil, start, fmt.Errorf("kafkabridge: mirror: local topic %q partition %d: group %q committed metadata %q, not a mirror's progress: %v: %w",
				tp.Topic, tp.Partition, r.m.opts.GroupID, c.Metadata, err, eventlog.ErrInvalidConfig)
		case p.remote != remote:
			return nil, start, fmt.Errorf("kafkabridge: mirror: local topic %q partition %d was mirrored from remote topic %q, not %q (use another GroupID): %w",
				tp.Topic, tp.Partition, p.remote, remote, eventlog.ErrInvalidConfig)
		case p.topicID != ([16]byte{}) && st.topicID != ([16]byte{}) && p.topicID != st.topicID:
			// Deleted and created again since: every record of it is new,
			// whatever its offsets, and those appended after the commit
			// came from the topic that is gone.
			r.logger.Warn("remote topic created again since the last Run: mirroring it from its start",
				"topic", remote, "partition", tp.Partition, "progress", p.remoteNext)
			st.localNext, st.verifyEnd = c.Offset, c.Offset
			st.verifyNext = st.localNext
			st.dirty = true // the new topic's ID
			return st, kgo.NewOffset().AtStart(), nil
		}
		next, localNext := p.remoteNext, p.localNext
		if lost := localNext - c.Offset; lost > 0 {
			// Each of the lost records took at least one remote offset, so
			// starting this many offsets earlier loses none of them; the
			// records before them are mirrored again.
			next = max(0, next-lost)
			r.logger.Warn("mirrored records were lost locally (a power loss on a DurabilityOS topic?): mirroring again from an earlier remote offset",
				"topic", tp.Topic, "partition", tp.Partition, "lost", lost, "remote_offset", next)
		}
		st.localNext, st.remoteNext = c.Offset, next
		st.positioned = true
		start = kgo.NewOffset().At(next)
	} else if fromEnd {
		// No earlier Run to verify against: the remote end is new data.
		st.verifyEnd = st.localNext
	}
	st.verifyNext = st.localNext
	if st.verifyEnd > st.verifyNext {
		r.logger.Info("verifying records appended after the last commit", "topic", tp.Topic, "partition", tp.Partition,
			"from", st.verifyNext, "to", st.verifyEnd)
	}
	return st, start, nil
}

// loop fetches and appends until ctx ends (nil) or something fails.
func (r *mirrorRun) loop(ctx context.Context, starts map[string]map[int32]kgo.Offset) error {
	o := &r.m.opts
	reset := kgo.NewOffset().AtStart()
	if o.StartAtEnd {
		reset = kgo.NewOffset().AtEnd()
	}
	kopts := append(append([]kgo.Opt(nil), o.ClientOptions...),
		kgo.SeedBrokers(o.Brokers...),
		kgo.WithLogger(kgoLogger{o.Logger}),
		kgo.ConsumePartitions(starts),
		kgo.ConsumeResetOffset(reset),
		kgo.FetchMaxPartitionBytes(int32(min(o.MaxPartitionFetchBytes, 1<<30))),
		// The client retries the errors it strips by default; kept, they
		// tell a remote topic deleted (UNKNOWN_TOPIC_OR_PARTITION,
		// UNKNOWN_TOPIC_ID) at the first fetch that fails, rather than
		// once the client gives up on it (see checkUnknown).
		kgo.KeepRetryableFetchErrors(),
	)
	if o.ReadCommitted {
		kopts = append(kopts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	client, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("kafkabridge: mirror: Kafka client: %w", err)
	}
	defer client.Close()
	// Appends and commits are not cut short by ctx ending: what was
	// fetched is stored and committed whole, or not touched.
	store := context.WithoutCancel(ctx)
	// A fetch waits for remote records; the Log closing or a local topic
	// being deleted meanwhile ends it, rather than leaving Run waiting on a
	// Log it can no longer write to.
	pollCtx, stopWatch := r.watchLocal(ctx)
	defer stopWatch()
	for {
		fetches := client.PollFetches(pollCtx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		if pollCtx.Err() != nil {
			return context.Cause(pollCtx)
		}
		var fetchErr error
		var unknown map[string]unknownFetch
		fetches.EachError(func(topic string, partition int32, err error) {
			var loss *kgo.ErrDataLoss
			switch {
			case errors.As(err, &loss):
				r.logger.Warn("remote records were lost before they were mirrored", "topic", topic, "partition", partition, "error", err)
			case errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID):
				if unknown == nil {
					unknown = make(map[string]unknownFetch)
				}
				unknown[topic] = unknownFetch{partition, err}
			case kerr.IsRetriable(err):
				// Retried by the client, which would not have shown it
				// without KeepRetryableFetchErrors.
				r.logger.Debug("fetch failed, retrying", "topic", topic, "partition", partition, "error", err)
			case fetchErr == nil:
				fetchErr = fmt.Errorf("kafkabridge: mirror: fetching remote topic %q partition %d: %w", topic, partition, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		if len(unknown) > 0 {
			if err := r.checkUnknown(pollCtx, client, unknown); err != nil {
				return err
			}
		}
		var appendErr error
		fetches.EachTopic(func(ft kgo.FetchTopic) {
			for _, fp := range ft.Partitions {
				if appendErr == nil && len(fp.Records) > 0 {
					appendErr = r.mirror(store, ft.Topic, ft.TopicID, fp.Partition, fp.LogStartOffset, fp.Records)
				}
			}
		})
		if err := r.commit(store); err != nil {
			return errors.Join(appendErr, err)
		}
		if appendErr != nil {
			return appendErr
		}
	}
}

// unknownFetch is a fetch of a remote partition that failed with
// UNKNOWN_TOPIC_OR_PARTITION or UNKNOWN_TOPIC_ID.
type unknownFetch struct {
	partition int32
	err       error
}

// checkUnknown asks the cluster about the remote topics whose fetches
// failed as unknown. One that no longer exists stops the Run with an
// error wrapping ErrRemoteTopicMissing, and one that exists under another
// topic ID (deleted and created again) with an error saying so: the
// client would retry either in vain for some seconds and then fail with
// the bare protocol error. A topic that exists as it was is one the
// cluster has not yet told every broker about: the client retries it.
// So does a question the cluster does not answer.
func (r *mirrorRun) checkUnknown(ctx context.Context, client *kgo.Client, unknown map[string]unknownFetch) error {
	topics := slices.Sorted(maps.Keys(unknown))
	counts, ids, err := remotePartitions(ctx, client, topics)
	if err != nil {
		r.logger.Debug("cannot check the remote topics whose fetches failed as unknown", "topics", topics, "error", err)
		return nil
	}
	for _, remote := range topics {
		u := unknown[remote]
		if _, ok := counts[remote]; !ok {
			return fmt.Errorf("kafkabridge: mirror: remote topic %q was deleted while the Mirror ran (fetching partition %d: %v): %w",
				remote, u.partition, u.err, ErrRemoteTopicMissing)
		}
		st := r.parts[eventlog.TopicPartition{Topic: r.byRemote[remote], Partition: u.partition}]
		if st != nil && st.topicID != ([16]byte{}) && ids[remote] != ([16]byte{}) && ids[remote] != st.topicID {
			return recreatedError(remote, u.partition, u.err)
		}
		r.logger.Debug("fetch of a remote topic that exists failed as unknown, retrying", "topic", remote, "partition", u.partition, "error", u.err)
	}
	return nil
}

// recreatedError is the error of a remote topic deleted and created again
// while the Mirror ran, told by a fetch of partition, which failed with
// cause if not nil.
func recreatedError(remote string, partition int32, cause error) error {
	msg := fmt.Sprintf("kafkabridge: mirror: remote topic %q was deleted and created again while the Mirror ran; the next Run mirrors the new topic from its start", remote)
	if cause == nil {
		return fmt.Errorf("%s (a fetch of partition %d returned the new topic's records)", msg, partition)
	}
	return fmt.Errorf("%s: fetching partition %d: %w", msg, partition, cause)
}

// watchLocal returns a context that ends with ctx, or, with an error as
// its cause, when the Log closes or a local topic is deleted; stop ends the
// watch and waits for its goroutine.
func (r *mirrorRun) watchLocal(ctx context.Context) (_ context.Context, stop func()) {
	wctx, cancel := context.WithCancelCause(ctx)
	// Each local topic's partition 0 stands for the topic: Close and
	// DeleteTopic wake the watchers of every partition.
	var probes []*mirrorPartition
	signal := make(chan struct{}, 1)
	var unwatch []func()
	for tp, st := range r.parts {
		if tp.Partition == 0 {
			probes = append(probes, st)
			unwatch = append(unwatch, st.local.WatchHighWatermark(signal))
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A context that has ended makes Wait report, without waiting,
		// why the partition can no longer be waited on.
		probe, probeCancel := context.WithCancel(context.Background())
		probeCancel()
		for {
			for _, st := range probes {
				err := st.local.Wait(probe, math.MaxInt64)
				if err != nil && !errors.Is(err, context.Canceled) {
					cancel(fmt.Errorf("kafkabridge: mirror: local topic %q, the mirror of remote topic %q: %w", st.local.Topic(), st.remote, err))
					return
				}
			}
			select {
			case <-signal:
			case <-wctx.Done():
				return
			}
		}
	}()
	return wctx, func() {
		for _, u := range unwatch {
			u()
		}
		cancel(nil)
		<-done
	}
}

// mirror appends the records of one remote partition, skipping those that
// the last Run appended without committing. topicID and logStart are the
// remote topic's ID and the partition's log start offset, as the fetch
// reported them.
func (r *mirrorRun) mirror(ctx context.Context, remote string, topicID [16]byte, partition int32, logStart int64, records []*kgo.Record) error {
	tp := eventlog.TopicPartition{Topic: r.byRemote[remote], Partition: partition}
	st := r.parts[tp]
	if topicID != ([16]byte{}) {
		if st.topicID != ([16]byte{}) && st.topicID != topicID {
			// Created again while the Mirror ran, and the client fetched
			// the new topic without a failed fetch of the old one: it
			// loaded the topic after it was created again. It fetches it
			// from the old topic's progress on, or from where it reset a
			// shorter one to, which is no place in the new topic. Nothing
			// of it is appended, and its ID is not committed, so that the
			// next Run tells it by its ID and mirrors it from its start.
			if st.positioned {
				return recreatedError(remote, partition, nil)
			}
			// Without progress the client started at the new topic's
			// start (or end, with StartAtEnd), as it would have anyway.
			r.logger.Warn("remote topic created again before the Mirror fetched it: mirroring the new one", "topic", remote,
				"partition", partition, "remote_offset", records[0].Offset)
		}
		st.topicID = topicID // committed with the progress
	}
	if first := records[0].Offset; st.positioned && first > st.remoteNext && logStart > st.remoteNext {
		// The remote log start passed the Mirror's position (retention,
		// DeleteRecords), while it ran or between two Runs, and kgo reset
		// it to the log start (or the end, with StartAtEnd).
		r.logger.Warn("remote records were lost before they were mirrored: deleted from the remote partition before the Mirror read them",
			"topic", remote, "partition", partition, "from", st.remoteNext, "to", first, "remote_log_start", logStart)
	}
	st.positioned = true
	batch := make([]eventlog.Record, 0, len(records))
	size := 0
	next := st.remoteNext // the remote offset after the last record of batch
	for _, kr := range records {
		if kr.Offset < st.remoteNext {
			// kgo returns no record below the offset it fetches from
			// unless it reset the partition because that offset was past
			// the remote end: the topic was deleted and created again, or
			// the cluster lost records (an unclean leader election). The
			// records at these offsets now are not the ones mirrored:
			// mirror them rather than lose them.
			r.logger.Warn("remote partition went back below the mirrored progress (topic created again, or records lost by the cluster): mirroring it from where the client reset it to",
				"topic", remote, "partition", partition, "remote_offset", kr.Offset, "progress", st.remoteNext)
			st.remoteNext = kr.Offset
		}
		rec := eventlog.Record{Key: kr.Key, Value: kr.Value, Headers: fromKafkaHeaders(kr.Headers), Timestamp: kr.Timestamp}
		if len(batch) == 0 && st.verifyNext < st.verifyEnd {
			ok, err := r.verify(st, tp, &rec)
			if err != nil {
				return err
			}
			if ok {
				st.remoteNext = kr.Offset + 1
				st.dirty = true
				continue
			}
		}
		n := recordBytes(&rec, batch)
		if len(batch) > 0 && size+n > st.batchBytes {
			if err := r.appendBatch(ctx, st, tp, batch, next); err != nil {
				return err
			}
			batch, size = batch[:0], 0
			n = recordBytes(&rec, batch) // the first of the next batch
		}
		batch = append(batch, rec)
		size += n
		next = kr.Offset + 1
	}
	return r.appendBatch(ctx, st, tp, batch, next)
}

// verify reports whether rec equals the next local record after the last
// commit, and moves past it if so. The first difference ends the
// verification: from there on every remote record is appended.
func (r *mirrorRun) verify(st *mirrorPartition, tp eventlog.TopicPartition, rec *eventlog.Record) (bool, error) {
	if st.verifyNext < st.local.LogStartOffset() {
		// Appended by the last Run from this remote record (local records
		// are dense, one per remote record mirrored), and deleted since
		// (retention, DeleteRecords): it cannot be compared, and stands
		// for the remote record all the same.
		if st.skipped == 0 {
			r.logger.Info("records appended after the last commit were deleted locally since: taking them as mirrored",
				"topic", tp.Topic, "partition", tp.Partition, "from", st.verifyNext, "to", st.local.LogStartOffset())
		}
		st.pending = nil
		st.verifyNext++
		st.localNext = st.verifyNext
		st.skipped++
		return true, nil
	}
	if len(st.pending) == 0 {
		recs, err := st.local.Read(st.verifyNext, 1<<20)
		if err != nil {
			return false, fmt.Errorf("kafkabridge: mirror: reading back local topic %q partition %d at offset %d: %w", tp.Topic, tp.Partition, st.verifyNext, err)
		}
		st.pending = recs
	}
	if len(st.pending) == 0 || st.pending[0].Offset >= st.verifyEnd || !sameRecord(&st.pending[0], rec) {
		r.logger.Info("remote records differ from those appended after the last commit: appending from here on",
			"topic", tp.Topic, "partition", tp.Partition, "offset", st.verifyNext, "matched", st.skipped)
		st.verifyNext, st.pending = st.verifyEnd, nil
		return false, nil
	}
	local := &st.pending[0]
	st.localNext = local.Offset + 1
	st.verifyNext = local.Offset + 1
	st.pending = st.pending[1:]
	st.skipped++
	if st.verifyNext >= st.verifyEnd {
		r.logger.Info("records appended after the last commit match the remote ones", "topic", tp.Topic, "partition", tp.Partition, "records", st.skipped)
		st.pending = nil
	}
	return true, nil
}

// appendBatch appends batch, the remote records up to remoteNext, to the
// local partition, and moves the partition's progress past them once they
// are stored: a failed append leaves it before them, for the commit that
// follows.
func (r *mirrorRun) appendBatch(ctx context.Context, st *mirrorPartition, tp eventlog.TopicPartition, batch []eventlog.Record, remoteNext int64) error {
	if len(batch) == 0 {
		return nil
	}
	if st.verifyNext < st.verifyEnd {
		// Appending ends the verification: the records after the commit
		// not matched stay, and the new ones follow them.
		st.verifyNext, st.pending = st.verifyEnd, nil
	}
	first, err := st.local.Append(ctx, batch, eventlog.AppendOptions{})
	if r.m.onAppend != nil {
		r.m.onAppend(len(batch), err)
	}
	if err != nil {
		return fmt.Errorf("kafkabridge: mirror: appending %d records of remote topic %q partition %d to local topic %q: %w",
			len(batch), st.remote, tp.Partition, tp.Topic, err)
	}
	st.localNext, st.remoteNext = first+int64(len(batch)), remoteNext
	st.dirty = true
	return nil
}

// commit stores the progress of the partitions that moved, in one commit.
func (r *mirrorRun) commit(ctx context.Context) error {
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	for tp, st := range r.parts {
		if st.dirty {
			p := progress{remote: st.remote, remoteNext: st.remoteNext, localNext: st.localNext, topicID: st.topicID}
			offsets[tp] = eventlog.OffsetAndMetadata{Offset: st.localNext, Metadata: p.String()}
		}
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := r.consumer.CommitOffsets(ctx, offsets); err != nil {
		return fmt.Errorf("kafkabridge: mirror: committing progress to local group %q: %w", r.m.opts.GroupID, err)
	}
	for tp := range offsets {
		r.parts[tp].dirty = false
	}
	if r.m.onCommit != nil {
		r.m.onCommit(offsets)
	}
	return nil
}

// batchHeaderBytes is the size of the header of a Kafka record batch (v2),
// the format eventlog stores: what an append takes besides its records.
const batchHeaderBytes = 61

// recordBytes is the size of rec in Kafka's record format (v2),
// uncompressed, as the record after batch: its offset delta is len(batch)
// and its timestamp delta counts from the first record's. A local append
// of batch takes batchHeaderBytes plus the sum of its records' sizes, so
// that batches fill the local partition's MaxBatchBytes exactly.
func recordBytes(rec *eventlog.Record, batch []eventlog.Record) int {
	base := rec.Timestamp
	if len(batch) > 0 {
		base = batch[0].Timestamp
	}
	n := 1 + // attributes
		varintBytes(rec.Timestamp.UnixMilli()-base.UnixMilli()) +
		varintBytes(int64(len(batch))) +
		bytesFieldBytes(rec.Key) + bytesFieldBytes(rec.Value) +
		varintBytes(int64(len(rec.Headers)))
	for _, h := range rec.Headers {
		n += varintBytes(int64(len(h.Key))) + len(h.Key) + bytesFieldBytes(h.Value)
	}
	return varintBytes(int64(n)) + n // the record's length, then the record
}

// varintBytes is the size of v as a zigzag varint, which Kafka's record
// format and encoding/binary share.
func varintBytes(v int64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutVarint(buf[:], v)
}

// bytesFieldBytes is the size of b as a field of a record: its length as a
// varint, -1 for null, then its bytes.
func bytesFieldBytes(b []byte) int {
	if b == nil {
		return varintBytes(-1)
	}
	return varintBytes(int64(len(b))) + len(b)
}

// sameRecord reports whether a local record holds what a remote one does:
// key, value and header values with null distinct from empty, and the
// timestamp to the millisecond.
func sameRecord(a, b *eventlog.Record) bool {
	if !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) ||
		a.Timestamp.UnixMilli() != b.Timestamp.UnixMilli() || len(a.Headers) != len(b.Headers) {
		return false
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !sameBytes(a.Headers[i].Value, b.Headers[i].Value) {
			return false
		}
	}
	return true
}

func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}
