package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Forward replicates local topics to a Kafka cluster: the outbox direction.
// It is a member of a local consumer group (ForwardOptions.GroupID) that
// reads the topics, sends every record to the partition of the same number
// of the remote topic, and commits a partition's offset only after the
// cluster acknowledged every record before it. Make one with NewForward and
// run it with Run.
type Forward struct {
	log  *eventlog.Log
	opts ForwardOptions
	ran  atomic.Bool

	// onCommit, set by tests through export_test.go, hears of every commit
	// that succeeded, on the goroutine running Run.
	onCommit func(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	// beforeCommit, set by tests, runs before a commit of acknowledged
	// records, on the goroutine running Run.
	beforeCommit func()
	// onWait, set by tests, runs whenever Run starts waiting for the
	// cluster with MaxUncommitted records uncommitted.
	onWait func()
	// onRevoke, set by tests, runs when a rebalance takes partitions away,
	// before the Forward waits for the cluster's acknowledgements.
	onRevoke func()
}

// NewForward returns a Forward from l to the cluster opts describes. It
// checks the options and connects nowhere yet; Run does the work.
func NewForward(l *eventlog.Log, opts *ForwardOptions) (*Forward, error) {
	if l == nil {
		return nil, fmt.Errorf("kafkabridge: NewForward without a Log: %w", eventlog.ErrInvalidConfig)
	}
	if opts == nil {
		opts = &ForwardOptions{}
	}
	o := *opts
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Forward{log: l, opts: o}, nil
}

// Run forwards records until ctx ends or the bridge fails, and then shuts
// down: it waits, at most ShutdownTimeout, for the cluster to acknowledge
// what was sent, commits that progress, leaves the consumer group and closes
// the Kafka client, so that no goroutine of the bridge outlives Run. It
// returns nil after a clean shutdown that ctx ending started, and otherwise
// the error that stopped it: a record the cluster refused, a remote topic
// missing or with fewer partitions (ErrPartitionMismatch), an error of the
// local Log, or a shutdown that timed out. Closing the Log stops it with an
// error wrapping eventlog.ErrClosed, within CommitInterval even while it
// waits with MaxUncommitted records out for a cluster that does not
// answer, and without waiting for the cluster: nothing could be committed
// any more. Records sent but not committed are sent again by the next Run.
func (f *Forward) Run(ctx context.Context) error {
	if !f.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	r, err := f.start()
	if err != nil {
		return err
	}
	r.runCtx = ctx
	loopErr := r.loop(ctx)
	// A closed Log can commit nothing the cluster acknowledges: waiting for
	// it would only delay Run's return by ShutdownTimeout.
	return errors.Join(loopErr, r.shutdown(!errors.Is(loopErr, eventlog.ErrClosed)))
}

// forwardRun is the state of one Run.
type forwardRun struct {
	f      *Forward
	logger *slog.Logger
	client *kgo.Client

	// consumer reads the local topics. It is used by the goroutine running
	// Run only (the rebalance listener runs there too, inside Poll).
	consumer *eventlog.Consumer

	// produceCtx is the context of every record sent: it ends only when
	// Run has finished waiting for acknowledgements, so that ctx ending
	// does not fail records that are about to be acknowledged.
	produceCtx    context.Context
	cancelProduce context.CancelFunc

	// acked is signalled, without blocking, by every acknowledgement.
	acked chan struct{}
	// inFlight counts records sent and not yet acknowledged or failed.
	inFlight atomic.Int64
	// failed is set with mu.err, for the read loop to check cheaply, and
	// when Run's context ended before the partitions just assigned were
	// checked: the read loop then sends nothing more.
	failed atomic.Bool
	// runCtx is Run's context, which ends the checks of the rebalance
	// listener: the context it is given ends with each read's commit
	// deadline too.
	runCtx context.Context
	// limits holds each remote topic's max.message.bytes (int32), as
	// checkTopics found it, for the Kafka client to size its batches by.
	limits *sync.Map
	// batchBytes is the client's batch cap of a topic whose limit is not
	// known: BatchBytes, or what ClientOptions set.
	batchBytes func(topic string) int32

	// The fields below belong to the goroutine running Run.
	remoteNames map[string]string // local topic -> remote topic
	checked     map[string]int    // local topic -> partition count checked against the cluster
	largest     map[string]int    // remote topic -> the largest batch it is sent, once its limit is read
	uncommitted int               // records sent and not yet committed
	maxPoll     int               // records one read may send
	slab        []outgoing        // records to hand out, allocated in bulk
	block       []byte            // copies of keys, values and headers, allocated in bulk
	lastCommit  time.Time
	closing     bool
	// assigned are the partitions the consumer was last given, as they
	// were then: a topic deleted and created again is another partition.
	assigned map[eventlog.TopicPartition]*eventlog.Partition

	mu struct {
		sync.Mutex
		// parts holds, per local partition, what the cluster acknowledged.
		parts map[partitionIncarnation]*forwardProgress
		// ackedUncommitted counts records acknowledged and not committed.
		ackedUncommitted int
		// err is the first failure: a record the cluster refused, or a
		// remote topic that cannot take a local one.
		err error
	}
}

// partitionIncarnation is a local partition, told apart from the
// partition of the same number of an earlier topic of the same name, which
// was deleted: progress in one is no progress in the other.
type partitionIncarnation struct {
	tp   eventlog.TopicPartition
	part *eventlog.Partition
}

// forwardProgress is what the cluster acknowledged of one local partition.
type forwardProgress struct {
	// next is the offset after the last record acknowledged with every
	// record sent before it.
	next int64
	// uncommitted counts acknowledged records since the last commit.
	uncommitted int
	// failed is set when a record failed, and failedAt is the lowest
	// offset that failed: acknowledgements of records after it no longer
	// move next, since a record before them is missing on the cluster.
	// (A record too large for a batch fails before it is buffered, ahead
	// of the acknowledgements of records sent before it.)
	failed   bool
	failedAt int64
}

func (f *Forward) start() (*forwardRun, error) {
	o := &f.opts
	codec, _ := compressionCodec(o.Compression) // checked by validate
	batchBytes, err := baseBatchBytes(o)
	if err != nil {
		return nil, err
	}
	limits := new(sync.Map)
	kopts := append(append([]kgo.Opt(nil), o.ClientOptions...),
		kgo.SeedBrokers(o.Brokers...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(o.MaxUncommitted),
		kgo.ProducerBatchCompression(codec),
		kgo.WithLogger(kgoLogger{o.Logger}),
		kgo.ProducerLinger(o.Linger),
		// A batch larger than the remote topic's max.message.bytes is
		// refused whole, the records before a large one with it. Capped by
		// the topic's limit, batches are not, and the client refuses a
		// record too large on its own, alone, before sending it.
		kgo.ProducerBatchMaxBytesFn(func(topic string) int32 {
			limit, ok := limits.Load(topic)
			return batchCap(batchBytes(topic), limit, ok)
		}),
	)
	client, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafkabridge: forward: Kafka client: %w", err)
	}
	if disabled, _ := client.OptValue(kgo.DisableIdempotentWrite).(bool); disabled {
		client.Close()
		return nil, fmt.Errorf("kafkabridge: forward: ClientOptions disable idempotent writes, without which retries reorder and duplicate records: %w", eventlog.ErrInvalidConfig)
	}

	r := &forwardRun{
		f:           f,
		logger:      o.Logger.With("bridge", "forward", "group", o.GroupID),
		client:      client,
		acked:       make(chan struct{}, 1),
		remoteNames: make(map[string]string),
		checked:     make(map[string]int),
		maxPoll:     max(1, min(4*eventlog.DefaultMaxPollRecords, o.MaxUncommitted/4)),
		lastCommit:  time.Now(),
		limits:      limits,
		batchBytes:  batchBytes,
		largest:     make(map[string]int),
	}
	r.mu.parts = make(map[partitionIncarnation]*forwardProgress)
	r.assigned = make(map[eventlog.TopicPartition]*eventlog.Partition)
	r.produceCtx, r.cancelProduce = context.WithCancel(context.Background())

	reset := eventlog.OffsetResetEarliest
	if o.StartAtEnd {
		reset = eventlog.OffsetResetLatest
	}
	r.consumer, err = f.log.NewConsumer(&eventlog.ConsumerOptions{
		GroupID:           o.GroupID,
		AutoOffsetReset:   reset,
		DisableAutoCommit: true,
		MaxPollRecords:    r.maxPoll,
		RebalanceListener: r,
	})
	if err == nil {
		if o.TopicPattern != nil {
			err = r.consumer.SubscribePattern(o.TopicPattern)
		} else {
			err = r.consumer.Subscribe(o.Topics...)
		}
	}
	if err != nil {
		if r.consumer != nil {
			r.consumer.Close()
		}
		r.cancelProduce()
		client.Close()
		return nil, fmt.Errorf("kafkabridge: forward: local consumer group %q: %w", o.GroupID, err)
	}
	return r, nil
}

// loop reads and sends records until ctx ends (nil) or something fails.
func (r *forwardRun) loop(ctx context.Context) error {
	o := &r.f.opts
	for {
		if err := r.failure(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if err := r.maybeCommit(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if r.uncommitted >= o.MaxUncommitted {
			if err := r.waitForCluster(ctx); err != nil {
				return err
			}
			continue
		}
		if err := r.read(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kafkabridge: forward: reading local topics: %w", err)
		}
	}
}

// waitForCluster waits, with MaxUncommitted records uncommitted, for the
// next acknowledgement: what the cluster acknowledges is committed at the
// top of the loop once a read's worth is. It waits no longer than the
// commit of records already acknowledged is due, so that they are
// committed within CommitInterval even while the cluster does not answer
// for other records, and no longer than CommitInterval otherwise, to notice
// the Log closing: then nothing acknowledged can be committed any more,
// and it returns the error.
func (r *forwardRun) waitForCluster(ctx context.Context) error {
	wait := r.f.opts.CommitInterval
	r.mu.Lock()
	if r.mu.ackedUncommitted > 0 {
		wait = time.Until(r.lastCommit.Add(wait))
	}
	r.mu.Unlock()
	if r.f.onWait != nil {
		r.f.onWait()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-r.acked:
	case <-ctx.Done():
	case <-timer.C:
		// Any topic tells, since every call on a closed Log fails so; one
		// was forwarded, or nothing would be uncommitted.
		for local := range r.remoteNames {
			if _, err := r.f.log.TopicConfig(local); errors.Is(err, eventlog.ErrClosed) {
				return fmt.Errorf("kafkabridge: forward: waiting for the cluster: %w", err)
			}
			break
		}
	}
	return nil
}

// read sends records of the local topics to the cluster until MaxUncommitted
// are uncommitted, a commit is due, or a failure stops it. While acknowledged
// records wait for their commit, it returns in time for it: at the end of
// CommitInterval, or at once when an acknowledgement wakes the consumer up
// (see acknowledge). It reads records in place and copies them into shared
// blocks, so that a record costs the garbage collector little.
func (r *forwardRun) read(ctx context.Context) error {
	o := &r.f.opts
	r.mu.Lock()
	waiting := r.mu.ackedUncommitted > 0
	r.mu.Unlock()
	readCtx := ctx
	if waiting {
		var cancel context.CancelFunc
		readCtx, cancel = context.WithDeadline(ctx, r.lastCommit.Add(o.CommitInterval))
		defer cancel()
	}
	read := 0
	for v, err := range r.consumer.Views(readCtx) {
		if err != nil {
			if ctx.Err() == nil && (errors.Is(err, eventlog.ErrWakeup) || readCtx.Err() != nil) {
				return nil // time to commit
			}
			return err
		}
		if r.failed.Load() {
			return nil // a topic just assigned cannot be forwarded: send nothing more
		}
		r.send(v)
		read++
		if r.uncommitted >= o.MaxUncommitted || read >= r.maxPoll {
			return nil
		}
	}
	return nil
}

// outgoing is a record handed to the Kafka client, with the local record it
// stands for.
type outgoing struct {
	record kgo.Record
	from   partitionIncarnation
	offset int64
}

// send copies a record and hands it to the Kafka client.
func (r *forwardRun) send(v *eventlog.RecordView) {
	remote, ok := r.remoteNames[v.Topic]
	if !ok {
		remote = r.f.opts.RemoteTopic(v.Topic)
		r.remoteNames[v.Topic] = remote
	}
	if len(r.slab) == 0 {
		r.slab = make([]outgoing, 256)
	}
	out := &r.slab[0]
	r.slab = r.slab[1:]
	tp := eventlog.TopicPartition{Topic: v.Topic, Partition: v.Partition}
	out.from = partitionIncarnation{tp, r.assigned[tp]} // nil if unknown: its progress is never committed
	out.offset = v.Offset
	out.record = kgo.Record{
		Topic:     remote,
		Partition: v.Partition,
		Key:       r.copyBytes(v.Key),
		Value:     r.copyBytes(v.Value),
		Timestamp: v.Timestamp(),
	}
	if n := v.HeaderCount(); n > 0 {
		out.record.Headers = make([]kgo.RecordHeader, 0, n)
		for k, hv := range v.Headers() {
			out.record.Headers = append(out.record.Headers, kgo.RecordHeader{Key: strings.Clone(k), Value: r.copyBytes(hv)})
		}
	}
	r.uncommitted++
	r.inFlight.Add(1)
	largest, ok := r.largest[remote]
	if !ok {
		largest = int(r.batchBytes(remote)) - batchPrefixBytes
		r.largest[remote] = largest
	}
	if size := batchHeaderBytes + kafkaRecordBytes(&out.record); size > largest {
		// The client would refuse it too, but only once the records after
		// it are on their way: they would be written after a gap. Refused
		// here, it stops the reading before them.
		r.acknowledge(out, fmt.Errorf("%w: a batch of it alone takes %d bytes, more than the %d a batch to the remote topic may (its max.message.bytes, or BatchBytes): %w",
			errTooLargeAlone, size, largest, kerr.MessageTooLarge))
		return
	}
	r.client.Produce(r.produceCtx, &out.record, func(_ *kgo.Record, err error) { r.acknowledge(out, err) })
}

// baseBatchBytes returns the batch cap of the Forward's client before any
// remote topic's limit: BatchBytes if set, otherwise what ClientOptions
// set (kgo.ProducerBatchMaxBytes or ProducerBatchMaxBytesFn), read from a
// client made of them alone, or franz-go's default.
func baseBatchBytes(o *ForwardOptions) (func(string) int32, error) {
	if o.BatchBytes > 0 {
		b := int32(min(o.BatchBytes, 1<<30))
		return func(string) int32 { return b }, nil
	}
	if len(o.ClientOptions) == 0 {
		return func(string) int32 { return defaultBatchBytes }, nil
	}
	probe, err := kgo.NewClient(append(slices.Clone(o.ClientOptions), kgo.SeedBrokers(o.Brokers...))...)
	if err != nil {
		return nil, fmt.Errorf("kafkabridge: forward: Kafka client: %w", err)
	}
	defer probe.Close()
	if fn, ok := probe.OptValue(kgo.ProducerBatchMaxBytesFn).(func(string) int32); ok && fn != nil {
		return fn, nil
	}
	return func(string) int32 { return defaultBatchBytes }, nil
}

// errTooLargeAlone is the error of a record refused before it is sent.
var errTooLargeAlone = errors.New("record too large for the remote topic")

// batchPrefixBytes is what the Kafka client counts in a batch's size
// besides the batch itself: the length of the records field of the produce
// request.
const batchPrefixBytes = 4

// batchCap is the batch size the Kafka client is given for a remote topic:
// batchBytes, or less where the topic's max.message.bytes (limit, if known)
// is lower, so that no batch the client builds exceeds it.
func batchCap(batchBytes int32, limit any, known bool) int32 {
	if !known {
		return batchBytes
	}
	return max(512, min(batchBytes, limit.(int32)+batchPrefixBytes))
}

// kafkaRecordBytes is the size of r as the first record of a batch, in
// Kafka's record format (v2), as recordBytes sizes a local record.
func kafkaRecordBytes(r *kgo.Record) int {
	n := 1 + 1 + 1 + // attributes, timestamp and offset deltas of 0
		bytesFieldBytes(r.Key) + bytesFieldBytes(r.Value) +
		varintBytes(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintBytes(int64(len(h.Key))) + len(h.Key) + bytesFieldBytes(h.Value)
	}
	return varintBytes(int64(n)) + n
}

// copyBytes copies b into the current block of copies, keeping nil nil and
// empty empty. A block is freed once no record refers to it.
func (r *forwardRun) copyBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(r.block)-len(r.block) {
		r.block = make([]byte, 0, max(64<<10, len(b)))
	}
	start := len(r.block)
	r.block = append(r.block, b...)
	return r.block[start:len(r.block):len(r.block)]
}

// acknowledge records the cluster's answer for a record sent. The Kafka
// client calls it on its own goroutine, in the order the records of a
// partition were sent.
func (r *forwardRun) acknowledge(out *outgoing, err error) {
	tp, offset := out.from.tp, out.offset
	// The acknowledgement that empties the pipeline, and the first after a
	// commit, wake the loop up if it waits for records: a commit is due.
	wake := r.inFlight.Add(-1) == 0
	r.mu.Lock()
	p := r.mu.parts[out.from]
	if p == nil {
		p = &forwardProgress{}
		r.mu.parts[out.from] = p
	}
	switch {
	case err != nil:
		if !p.failed || offset < p.failedAt {
			p.failed, p.failedAt = true, offset
			r.failed.Store(true)
			if r.mu.err == nil {
				if limit, ok := r.limits.Load(out.record.Topic); ok && errors.Is(err, kerr.MessageTooLarge) && !errors.Is(err, errTooLargeAlone) {
					err = fmt.Errorf("%w; the remote topic's max.message.bytes is %d", err, limit)
				}
				r.mu.err = fmt.Errorf("kafkabridge: forward: topic %q partition %d offset %d to remote topic %q: %w",
					tp.Topic, tp.Partition, offset, out.record.Topic, err)
			}
		}
	case !p.failed || offset < p.failedAt:
		p.next = offset + 1
		p.uncommitted++
		r.mu.ackedUncommitted++
		wake = wake || r.mu.ackedUncommitted == 1
	}
	r.mu.Unlock()
	if wake {
		r.consumer.Wakeup()
	}
	select {
	case r.acked <- struct{}{}:
	default:
	}
}

func (r *forwardRun) failure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.mu.err
}

func (r *forwardRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed.Store(true)
	if r.mu.err == nil {
		r.mu.err = err
	}
}

// maybeCommit commits acknowledged records when CommitInterval passed since
// the last commit, when a read's worth (maxPoll) is acknowledged and
// waiting, or when nothing sent awaits the cluster any more.
func (r *forwardRun) maybeCommit(ctx context.Context) error {
	r.mu.Lock()
	waiting := r.mu.ackedUncommitted
	r.mu.Unlock()
	drained := r.inFlight.Load() == 0
	if waiting == 0 || (!drained && waiting < r.maxPoll && time.Since(r.lastCommit) < r.f.opts.CommitInterval) {
		return nil
	}
	return r.commit(ctx)
}

// commit commits what the cluster acknowledged of the partitions the
// consumer owns. Acknowledgements of partitions it no longer owns, or whose
// topic was deleted (even if a topic of the same name was created since),
// are dropped: their new owner starts from their last commit.
func (r *forwardRun) commit(ctx context.Context) error {
	if r.f.beforeCommit != nil {
		r.mu.Lock()
		waiting := r.mu.ackedUncommitted
		r.mu.Unlock()
		if waiting > 0 {
			r.f.beforeCommit()
		}
	}
	owned := make(map[partitionIncarnation]bool)
	for _, tp := range r.consumer.Assignment() {
		// A topic deleted meanwhile has nothing left to commit to, and one
		// created again under its name is another partition.
		if part, err := r.f.log.Partition(tp.Topic, tp.Partition); err == nil {
			owned[partitionIncarnation{tp, part}] = true
		}
	}
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	counts := make(map[partitionIncarnation]int)
	dropped := 0
	r.mu.Lock()
	for from, p := range r.mu.parts {
		if p.uncommitted == 0 {
			continue
		}
		if !owned[from] {
			dropped += p.uncommitted
			r.mu.ackedUncommitted -= p.uncommitted
			p.uncommitted = 0
			continue
		}
		offsets[from.tp] = eventlog.OffsetAndMetadata{Offset: p.next}
		counts[from] = p.uncommitted
	}
	r.mu.Unlock()
	r.uncommitted -= dropped
	r.lastCommit = time.Now()
	if len(offsets) == 0 {
		return nil
	}
	for from := range counts {
		offsets[from.tp] = eventlog.OffsetAndMetadata{Offset: pastUnread(from.part, offsets[from.tp].Offset)}
	}
	if err := r.consumer.CommitOffsets(ctx, offsets); err != nil {
		return fmt.Errorf("kafkabridge: forward: committing progress to local group %q: %w", r.f.opts.GroupID, err)
	}
	committed := 0
	r.mu.Lock()
	for from, n := range counts {
		r.mu.parts[from].uncommitted -= n
		committed += n
	}
	r.mu.ackedUncommitted -= committed
	r.mu.Unlock()
	r.uncommitted -= committed
	r.logger.Debug("committed", "partitions", len(offsets), "records", committed)
	if r.f.onCommit != nil {
		r.f.onCommit(offsets)
	}
	return nil
}

// pastUnread returns the offset after the transaction markers (control
// batches) and the batches of aborted transactions that follow offset in
// part, below its last stable offset: records that the Forward's consumer,
// which reads committed records only, never returns. Progress up to offset
// is then progress past them, as a Kafka consumer's position, and so its
// commit, moves past them; committed at offset, a transactional topic
// would show a lag of at least one, its last marker, once everything is
// forwarded. It stops at the first batch of records the Forward reads, so
// that it looks at one batch more than the commit covers, and only when
// the Forward is behind the last stable offset; and at any error, leaving
// the offset where the acknowledgements put it.
func pastUnread(part *eventlog.Partition, offset int64) int64 {
	stable := part.LastStableOffset()
	if offset >= stable {
		return offset
	}
	var aborted []eventlog.AbortedTransaction
	looked := false
	for b, err := range part.Batches(offset) {
		if err != nil || b.BaseOffset >= stable {
			break
		}
		if b.LastOffset < offset {
			continue
		}
		skip := b.Control
		if !skip && b.Transactional {
			if !looked {
				aborted, looked = part.AbortedTransactions(offset, stable), true
			}
			for _, a := range aborted {
				if a.ProducerID == b.ProducerID && a.FirstOffset <= b.BaseOffset && b.BaseOffset < a.MarkerOffset {
					skip = true
					break
				}
			}
		}
		if !skip {
			break
		}
		offset = b.LastOffset + 1
	}
	return offset
}

// shutdown waits for the cluster's acknowledgements if flush is set,
// commits them and releases the consumer and the client.
func (r *forwardRun) shutdown(flush bool) error {
	r.closing = true
	ctx, cancel := context.WithTimeout(context.Background(), r.f.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	if flush {
		if err := r.client.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("kafkabridge: forward: the cluster did not acknowledge every record within %v: %w", r.f.opts.ShutdownTimeout, err))
		}
	}
	if err := r.commit(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := r.consumer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("kafkabridge: forward: closing the local consumer: %w", err))
	}
	r.cancelProduce()
	r.client.Close()
	r.logger.Info("stopped")
	return errors.Join(errs...)
}

// OnPartitionsAssigned checks that the cluster can take the topics of the
// partitions assigned; it implements eventlog.RebalanceListener and is no
// part of the API.
func (r *forwardRun) OnPartitionsAssigned(_ context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	for _, tp := range partitions {
		if part, err := r.f.log.Partition(tp.Topic, tp.Partition); err == nil {
			r.assigned[tp] = part
		}
	}
	// Cut short by Run's context ending, not by the read's deadline: the
	// records of these partitions are sent only once their topics are
	// checked.
	cctx, cancel := context.WithTimeout(r.runCtx, r.f.opts.ShutdownTimeout)
	defer cancel()
	err := r.checkTopics(cctx, partitions)
	if err == nil && r.f.opts.StartAtEnd {
		err = r.settleEnds(cctx, partitions)
	}
	switch {
	case err == nil:
	case r.runCtx.Err() != nil:
		r.failed.Store(true) // Run is stopping: send nothing unchecked
	default:
		r.fail(err)
	}
}

// settleEnds commits, as their progress, the positions that partitions
// without committed progress start at, their high watermarks
// (StartAtEnd), as a Kafka consumer with auto.offset.reset=latest commits
// the position it reset to, or their log start for partitions added to a
// topic already forwarded. Without it, a partition that stays quiet
// during a Run would start at its end again on the next Run, and the
// records appended to it in between would never be forwarded.
func (r *forwardRun) settleEnds(ctx context.Context, partitions []eventlog.TopicPartition) error {
	committed, err := r.consumer.Committed(ctx, partitions...)
	if err != nil {
		return fmt.Errorf("kafkabridge: forward: progress in local group %q: %w", r.f.opts.GroupID, err)
	}
	// A partition without progress in a topic with some was added to the
	// topic after the forwarding began (by this member or another): every
	// record of it was appended since, and it starts at its beginning.
	forwarded := make(map[string]bool)
	for tp := range committed {
		forwarded[tp.Topic] = true
	}
	for _, tp := range partitions {
		if _, ok := forwarded[tp.Topic]; ok {
			continue
		}
		cfg, err := r.f.log.TopicConfig(tp.Topic)
		if err != nil {
			continue // deleted meanwhile: the group takes it away
		}
		all := make([]eventlog.TopicPartition, cfg.Partitions)
		for p := range all {
			all[p] = eventlog.TopicPartition{Topic: tp.Topic, Partition: int32(p)}
		}
		c, err := r.consumer.Committed(ctx, all...)
		if err != nil {
			return fmt.Errorf("kafkabridge: forward: progress of local topic %q in local group %q: %w", tp.Topic, r.f.opts.GroupID, err)
		}
		forwarded[tp.Topic] = len(c) > 0
	}
	offsets := make(map[eventlog.TopicPartition]eventlog.OffsetAndMetadata)
	for _, tp := range partitions {
		if _, ok := committed[tp]; ok {
			continue
		}
		if forwarded[tp.Topic] {
			if err := r.consumer.SeekToBeginning(tp); err != nil {
				if errors.Is(err, eventlog.ErrTopicNotFound) {
					continue
				}
				return fmt.Errorf("kafkabridge: forward: local topic %q partition %d, added since the forwarding began: %w", tp.Topic, tp.Partition, err)
			}
		}
		position, err := r.consumer.Position(tp)
		switch {
		case errors.Is(err, eventlog.ErrTopicNotFound):
			continue // deleted meanwhile: the group takes it away
		case err != nil:
			return fmt.Errorf("kafkabridge: forward: position of local topic %q partition %d: %w", tp.Topic, tp.Partition, err)
		}
		offsets[tp] = eventlog.OffsetAndMetadata{Offset: position}
	}
	if len(offsets) == 0 {
		return nil
	}
	if err := r.consumer.CommitOffsets(ctx, offsets); err != nil {
		return fmt.Errorf("kafkabridge: forward: committing where partitions start to local group %q: %w", r.f.opts.GroupID, err)
	}
	if r.f.onCommit != nil {
		r.f.onCommit(offsets)
	}
	return nil
}

// OnPartitionsRevoked waits for the cluster to acknowledge what was sent
// and commits it, so that the partitions' next owner does not send it
// again; it implements eventlog.RebalanceListener.
func (r *forwardRun) OnPartitionsRevoked(ctx context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	if r.closing || len(partitions) == 0 {
		return
	}
	defer r.unassign(partitions)
	if r.f.onRevoke != nil {
		r.f.onRevoke()
	}
	// The wait ends with Run's context too: the shutdown that follows
	// waits for the cluster itself, so that Run waits ShutdownTimeout
	// once its context ended, not twice.
	fctx, cancel := context.WithTimeout(r.runCtx, r.f.opts.ShutdownTimeout)
	defer cancel()
	if err := r.client.Flush(fctx); err != nil && r.runCtx.Err() == nil {
		r.fail(fmt.Errorf("kafkabridge: forward: the cluster did not acknowledge every record within %v before a rebalance: %w", r.f.opts.ShutdownTimeout, err))
	}
	// What was acknowledged is committed all the same: the shutdown
	// commits only the partitions the Forward still owns.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), r.f.opts.ShutdownTimeout)
	defer ccancel()
	if err := r.commit(cctx); err != nil {
		r.fail(err)
	}
}

// OnPartitionsLost logs partitions taken away without a chance to commit;
// it implements eventlog.RebalanceListener.
func (r *forwardRun) OnPartitionsLost(_ context.Context, _ *eventlog.Consumer, partitions []eventlog.TopicPartition) {
	r.logger.Warn("partitions lost: their records since the last commit will be sent again", "partitions", partitions)
	r.unassign(partitions)
}

// unassign forgets partitions the consumer no longer owns.
func (r *forwardRun) unassign(partitions []eventlog.TopicPartition) {
	for _, tp := range partitions {
		delete(r.assigned, tp)
	}
}

// checkTopics makes sure every topic of partitions has a remote topic with
// at least as many partitions, creating it, or adding the partitions it
// lacks, if CreateTopics allows.
func (r *forwardRun) checkTopics(ctx context.Context, partitions []eventlog.TopicPartition) error {
	o := &r.f.opts
	local := make(map[string]int)
	configs := make(map[string]eventlog.TopicConfig)
	for _, tp := range partitions {
		if _, ok := local[tp.Topic]; ok {
			continue
		}
		cfg, err := r.f.log.TopicConfig(tp.Topic)
		switch {
		case errors.Is(err, eventlog.ErrTopicNotFound):
			continue // deleted meanwhile: the group takes it away
		case err != nil:
			return fmt.Errorf("kafkabridge: forward: local topic %q: %w", tp.Topic, err)
		}
		if r.checked[tp.Topic] != cfg.Partitions {
			local[tp.Topic] = cfg.Partitions
			configs[tp.Topic] = cfg
		}
	}
	if len(local) == 0 {
		return nil
	}
	var remotes []string
	for t := range local {
		remotes = append(remotes, o.RemoteTopic(t))
	}
	counts, _, err := remotePartitions(ctx, r.client, remotes)
	if err != nil {
		return err
	}
	for t, n := range local {
		remote := o.RemoteTopic(t)
		got, ok := counts[remote]
		switch {
		case !ok && !o.CreateTopics:
			return fmt.Errorf("kafkabridge: forward: local topic %q goes to remote topic %q: %w (set ForwardOptions.CreateTopics to create it)", t, remote, ErrRemoteTopicMissing)
		case !ok:
			part, err := r.f.log.Partition(t, 0)
			switch {
			case errors.Is(err, eventlog.ErrTopicNotFound):
				continue // deleted meanwhile: nothing to create a remote topic for
			case err != nil:
				return fmt.Errorf("kafkabridge: forward: local topic %q: %w", t, err)
			}
			cfgs := remoteTopicConfigs(configs[t], part.MaxBatchBytes())
			if err := createRemoteTopic(ctx, r.client, remote, n, o.ReplicationFactor, cfgs); err != nil {
				return err
			}
			r.logger.Info("created remote topic", "topic", remote, "partitions", n, "configs", cfgs)
		case got < n && !o.CreateTopics:
			return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions and remote topic %q only %d: %w (set ForwardOptions.CreateTopics to add them)", t, n, remote, got, ErrPartitionMismatch)
		case got < n:
			if err := addRemotePartitions(ctx, r.client, remote, got, n); err != nil {
				return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions: %w", t, n, err)
			}
			r.logger.Info("added partitions to the remote topic", "topic", t, "remote_topic", remote, "partitions", n, "remote_partitions", got)
		case got > n:
			r.logger.Warn("remote topic has more partitions than the local one: records keep their partition numbers, so keyed records are not where Kafka's partitioner would put them for the remote count",
				"topic", t, "remote_topic", remote, "partitions", n, "remote_partitions", got)
		}
		if err := awaitClientPartitions(ctx, r.client, remote, n); err != nil {
			return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions: the Kafka client does not see as many in remote topic %q: %w", t, n, remote, err)
		}
		r.checked[t] = n
	}
	r.readLimits(ctx, remotes)
	return nil
}

// readLimits reads the max.message.bytes of the remote topics into
// r.limits. A cluster that does not tell (DescribeConfigs not authorized)
// leaves the batches at BatchBytes, with a warning.
func (r *forwardRun) readLimits(ctx context.Context, remotes []string) {
	configs, err := kadm.NewClient(r.client).DescribeTopicConfigs(ctx, remotes...)
	if err != nil {
		r.logger.Warn("cannot read the max.message.bytes of remote topics: batches are sized by BatchBytes only", "topics", remotes, "error", err)
		return
	}
	for _, rc := range configs {
		if rc.Err != nil {
			r.logger.Warn("cannot read the max.message.bytes of a remote topic: batches are sized by BatchBytes only", "topic", rc.Name, "error", rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" {
				continue
			}
			if limit, err := strconv.ParseInt(c.MaybeValue(), 10, 32); err == nil && limit > 0 {
				r.limits.Store(rc.Name, int32(limit))
				r.largest[rc.Name] = int(batchCap(r.batchBytes(rc.Name), int32(limit), true)) - batchPrefixBytes
			}
		}
	}
}
