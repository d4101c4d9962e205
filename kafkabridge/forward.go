package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventlog/eventlog"
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
// missing or deleted (ErrRemoteTopicMissing) or with fewer partitions
// (ErrPartitionMismatch), an error of the local Log, or a shutdown that
// timed out. Closing the Log stops it with an error wrapping
// eventlog.ErrClosed, within CommitInterval even while it waits with
// MaxUncommitted records out for a cluster that does not answer, and
// without waiting for the cluster: nothing could be committed any more.
// Records sent but not committed are sent again by the next Run.
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
	// answered counts the cluster's answers, acknowledgements and
	// failures, for checkStall to tell a cluster that stopped answering.
	answered atomic.Int64
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
	// lastStallCheck is when checkStall last looked, or found nothing in
	// flight, and answeredThen what answered counted then. stall is its
	// question out to the cluster, if any, and questions counts the
	// goroutines asking.
	lastStallCheck time.Time
	answeredThen   int64
	stall          *stallQuestion
	questions      sync.WaitGroup
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
		f:              f,
		logger:         o.Logger.With("bridge", "forward", "group", o.GroupID),
		client:         client,
		acked:          make(chan struct{}, 1),
		remoteNames:    make(map[string]string),
		checked:        make(map[string]int),
		maxPoll:        max(1, min(4*eventlog.DefaultMaxPollRecords, o.MaxUncommitted/4)),
		lastCommit:     time.Now(),
		lastStallCheck: time.Now(),
		limits:         limits,
		batchBytes:     batchBytes,
		largest:        make(map[string]int),
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
		if err := r.checkStall(ctx); err != nil {
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
// (see acknowledge). With nothing sent awaiting the cluster, it returns at
// the end of CommitInterval too, for the commit of positions the consumer
// moved past records it does not return (see addPositions); and while
// records await the cluster, in time for checkStall. It reads records in
// place and copies them into shared blocks, so that a record costs the
// garbage collector little.
func (r *forwardRun) read(ctx context.Context) error {
	o := &r.f.opts
	r.mu.Lock()
	waiting := r.mu.ackedUncommitted > 0
	r.mu.Unlock()
	drained := r.inFlight.Load() == 0
	deadline := r.lastCommit.Add(o.CommitInterval)
	switch {
	case !drained && !waiting:
		deadline = r.lastStallCheck.Add(stallCheckInterval)
	case !drained && r.lastStallCheck.Add(stallCheckInterval).Before(deadline):
		deadline = r.lastStallCheck.Add(stallCheckInterval)
	}
	readCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
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

// shutdown waits for the cluster's acknowledgements if flush is set,
// commits them and releases the consumer and the client.
func (r *forwardRun) shutdown(flush bool) error {
	r.closing = true
	r.stopQuestions()
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
