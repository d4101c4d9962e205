package kafkabridge

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults applied to zero fields of ForwardOptions and MirrorOptions.
const (
	DefaultForwardGroupID  = "kafkabridge-forward"  // group.id of a Forward
	DefaultMirrorGroupID   = "kafkabridge-mirror"   // group.id holding a Mirror's progress
	DefaultMaxUncommitted  = 10000                  // records sent and not yet committed
	DefaultCommitInterval  = 100 * time.Millisecond // auto.commit.interval.ms (Kafka: 5s)
	DefaultShutdownTimeout = 30 * time.Second       // the producer's close timeout

	// defaultBatchBytes is franz-go's default batch size: Kafka's
	// max.message.bytes default.
	defaultBatchBytes = 1000012
)

// ForwardOptions configure a Forward. NewForward copies the struct; later
// changes have no effect.
type ForwardOptions struct {
	// Brokers are the host:port addresses the client first connects to
	// (Kafka's bootstrap.servers). Required.
	Brokers []string

	// ClientOptions are passed to franz-go's kgo.NewClient before the
	// bridge's own: the place for TLS (kgo.DialTLSConfig), SASL
	// (kgo.SASL), client.id (kgo.ClientID) and other connection settings.
	// The bridge sets, over whatever is given here, the seed brokers, an
	// idempotent producer with acks=all, and the manual partitioner.
	ClientOptions []kgo.Opt

	// Topics are the local topics to forward. Either Topics or
	// TopicPattern is required, not both.
	Topics []string

	// TopicPattern forwards every local topic whose name matches, now and
	// as topics are created (internal topics never match).
	TopicPattern *regexp.Regexp

	// RemoteTopic names the remote topic a local topic is forwarded to, as
	// MirrorMaker's replication.policy.class names its targets. Default:
	// the same name.
	RemoteTopic func(local string) string

	// CreateTopics makes the Forward create a remote topic that does not
	// exist, with as many partitions as the local topic, ReplicationFactor,
	// and the local topic's settings that Kafka has: its cleanup.policy;
	// the max.message.bytes in effect for it (its MaxBatchBytes or the
	// Log's), so that every record it took fits; and the retention.ms,
	// retention.bytes, delete.retention.ms, min.compaction.lag.ms,
	// max.compaction.lag.ms and min.cleanable.dirty.ratio it sets itself
	// (TopicConfig). What it inherits from the Log's Options is left to
	// the cluster's defaults, as MirrorMaker 2 leaves defaults to its
	// target (eventlog keeps records forever by default, Kafka for seven
	// days). Segment sizes and durability describe the local disk and are
	// not carried. Topics that exist are used as they are, but for their
	// partition count: a remote topic with fewer partitions than its local
	// topic, which may gain partitions while the Forward runs, is given
	// those it lacks, as MirrorMaker 2 grows its targets. Default off: a
	// missing remote topic stops the Forward with ErrRemoteTopicMissing,
	// and one with fewer partitions with ErrPartitionMismatch.
	CreateTopics bool

	// ReplicationFactor is the replication factor of topics CreateTopics
	// creates (kafka-topics --replication-factor). Default -1: the
	// broker's default.replication.factor.
	ReplicationFactor int16

	// GroupID is the local consumer group whose committed offsets are the
	// Forward's progress (Kafka's group.id). Default "kafkabridge-forward".
	// Two Forwards of one Log with the same GroupID split the partitions
	// between them, as the members of a group do.
	GroupID string

	// StartAtEnd makes a partition without committed progress start at its
	// high watermark, forwarding only records appended from then on
	// (Kafka's auto.offset.reset=latest). The Forward commits that
	// position as soon as it is given the partition, as a Kafka consumer
	// commits the position it reset to, so that the next Run resumes there
	// even if nothing was forwarded in between. Partitions a topic gains
	// later hold only records appended after the forwarding began, and
	// are forwarded from their start. Default: from the log start
	// offset (auto.offset.reset=earliest), since an outbox forwards
	// everything.
	StartAtEnd bool

	// Linger is how long a partition's batch waits for more records before
	// it is sent (Kafka's linger.ms). Default 0: a batch goes as soon as
	// a request can take it, and the records read while requests are in
	// flight (up to five per broker) make the next batches. The Forward
	// reads records in bursts, so waiting for more rarely fills a batch
	// further; it only delays the acknowledgements that commits wait for.
	Linger time.Duration

	// BatchBytes is the largest batch the producer sends (Kafka's
	// batch.size, and the cap max.message.bytes puts on it). Default: what
	// ClientOptions set (kgo.ProducerBatchMaxBytes), or franz-go's, 1000012
	// bytes, Kafka's max.message.bytes default. The
	// batches to a remote topic whose max.message.bytes is lower are
	// capped by it, as the Forward reads it from the cluster when it
	// starts forwarding the topic (DescribeConfigs; if the cluster does
	// not allow it, the Forward logs a warning and uses BatchBytes). Both
	// bound batches uncompressed, as franz-go measures them: a record
	// larger than either on its own stops the Forward even where
	// Compression would have brought its batch below the limit.
	BatchBytes int

	// Compression is the codec of the batches sent (Kafka's
	// compression.type). Default CompressionNone.
	Compression eventlog.Compression

	// MaxUncommitted is the most records the Forward has sent that are not
	// yet committed locally; it stops reading until the cluster
	// acknowledges and commits catch up. It bounds the records sent again
	// after a crash. Default 10000; it is also the Kafka client's limit of
	// buffered records (kgo's MaxBufferedRecords, the record count form of
	// Kafka's buffer.memory).
	MaxUncommitted int

	// CommitInterval is the longest an acknowledged record waits for its
	// commit to the local group (Kafka's auto.commit.interval.ms). Progress
	// is also committed as soon as 2,000 records (a quarter of
	// MaxUncommitted, if that is less) are acknowledged, when nothing sent
	// awaits the cluster any more, before a rebalance takes partitions
	// away, and at shutdown. With nothing awaiting the cluster, the
	// Forward also commits, every CommitInterval, the positions its
	// consumer moved past transaction markers and aborted records that no
	// record follows yet, as a Kafka consumer commits its position.
	// Default 100ms.
	CommitInterval time.Duration

	// ShutdownTimeout bounds how long Run, once its context ends, waits for
	// the cluster to acknowledge the records sent (the timeout of Kafka's
	// producer close). Default 30s.
	ShutdownTimeout time.Duration

	// Logger receives the bridge's log lines and the Kafka client's.
	// Default: discard.
	Logger *slog.Logger
}

// MirrorOptions configure a Mirror. NewMirror copies the struct; later
// changes have no effect.
type MirrorOptions struct {
	// Brokers are the host:port addresses the client first connects to
	// (Kafka's bootstrap.servers). Required.
	Brokers []string

	// ClientOptions are passed to franz-go's kgo.NewClient before the
	// bridge's own: the place for TLS, SASL, client.id, fetch sizes
	// (kgo.FetchMaxBytes) and other settings. The bridge sets, over them,
	// the seed brokers, the partitions to consume and where each starts.
	ClientOptions []kgo.Opt

	// Topics are the remote topics to mirror. Required.
	Topics []string

	// LocalTopic names the local topic a remote topic is mirrored into, as
	// MirrorMaker's replication.policy.class names its targets. Default:
	// the same name. A missing local topic is created with as
	// many partitions as the remote one, and the cleanup.policy,
	// max.message.bytes (as MaxBatchBytes), retention.ms, retention.bytes,
	// delete.retention.ms, min.compaction.lag.ms, max.compaction.lag.ms
	// and min.cleanable.dirty.ratio set on the remote topic itself; what it
	// leaves to the cluster's defaults is left to the Log's, as MirrorMaker
	// 2 leaves defaults to its target (Kafka keeps records seven days by
	// default, eventlog forever). An existing one needs at least
	// as many, unless the Mirror has mirrored into it already: then it
	// adds the partitions the remote topic gained. Each remote topic needs a local topic of its own:
	// NewMirror refuses a LocalTopic that maps two of Topics to one name.
	LocalTopic func(remote string) string

	// GroupID is the local consumer group that holds the Mirror's progress
	// (see the package documentation). Default "kafkabridge-mirror".
	GroupID string

	// StartAtEnd makes a partition without stored progress start at the
	// remote end, mirroring only records produced from then on (Kafka's
	// auto.offset.reset=latest). Run stores that position as the
	// partition's progress before it mirrors anything, as a Kafka consumer
	// commits the position it reset to, so that the next Run resumes there
	// even if nothing was produced in between. Partitions the remote topic
	// gains later hold only records produced after the mirroring began,
	// and are mirrored from their start. Default: from the remote log
	// start (auto.offset.reset=earliest).
	StartAtEnd bool

	// ReadCommitted mirrors only records of committed transactions
	// (Kafka's isolation.level=read_committed). Default: every record
	// (read_uncommitted), as Kafka's default.
	ReadCommitted bool

	// MaxPartitionFetchBytes bounds the bytes one fetch returns for a
	// partition (Kafka's max.partition.fetch.bytes); each partition's
	// part of a fetch is appended locally as one batch, or as several
	// where it exceeds the local partition's MaxBatchBytes. Default 1 MiB.
	MaxPartitionFetchBytes int

	// Logger receives the bridge's log lines and the Kafka client's.
	// Default: discard.
	Logger *slog.Logger
}

func (o *ForwardOptions) validate() error {
	switch {
	case len(o.Brokers) == 0:
		return fmt.Errorf("kafkabridge: ForwardOptions.Brokers is empty: %w", eventlog.ErrInvalidConfig)
	case len(o.Topics) == 0 && o.TopicPattern == nil:
		return fmt.Errorf("kafkabridge: ForwardOptions needs Topics or TopicPattern: %w", eventlog.ErrInvalidConfig)
	case len(o.Topics) > 0 && o.TopicPattern != nil:
		return fmt.Errorf("kafkabridge: ForwardOptions has both Topics and TopicPattern: %w", eventlog.ErrInvalidConfig)
	case o.MaxUncommitted < 0 || o.BatchBytes < 0 || o.Linger < 0 || o.CommitInterval < 0 || o.ShutdownTimeout < 0:
		return fmt.Errorf("kafkabridge: ForwardOptions has a negative MaxUncommitted, BatchBytes, Linger, CommitInterval or ShutdownTimeout: %w", eventlog.ErrInvalidConfig)
	}
	for _, t := range o.Topics {
		if t == "" {
			return fmt.Errorf("kafkabridge: ForwardOptions.Topics holds an empty name: %w", eventlog.ErrInvalidTopic)
		}
	}
	if _, err := compressionCodec(o.Compression); err != nil {
		return err
	}
	if o.GroupID == "" {
		o.GroupID = DefaultForwardGroupID
	}
	if o.RemoteTopic == nil {
		o.RemoteTopic = func(local string) string { return local }
	}
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = -1
	}
	if o.MaxUncommitted == 0 {
		o.MaxUncommitted = DefaultMaxUncommitted
	}
	if o.CommitInterval == 0 {
		o.CommitInterval = DefaultCommitInterval
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	o.Topics, o.Brokers, o.ClientOptions = slices.Clone(o.Topics), slices.Clone(o.Brokers), slices.Clone(o.ClientOptions)
	return nil
}

func (o *MirrorOptions) validate() error {
	switch {
	case len(o.Brokers) == 0:
		return fmt.Errorf("kafkabridge: MirrorOptions.Brokers is empty: %w", eventlog.ErrInvalidConfig)
	case len(o.Topics) == 0:
		return fmt.Errorf("kafkabridge: MirrorOptions.Topics is empty: %w", eventlog.ErrInvalidConfig)
	case o.MaxPartitionFetchBytes < 0:
		return fmt.Errorf("kafkabridge: MirrorOptions.MaxPartitionFetchBytes is negative: %w", eventlog.ErrInvalidConfig)
	}
	seen := make(map[string]bool, len(o.Topics))
	for _, t := range o.Topics {
		if t == "" {
			return fmt.Errorf("kafkabridge: MirrorOptions.Topics holds an empty name: %w", eventlog.ErrInvalidTopic)
		}
		if seen[t] {
			return fmt.Errorf("kafkabridge: MirrorOptions.Topics names %q twice: %w", t, eventlog.ErrInvalidConfig)
		}
		seen[t] = true
	}
	if o.GroupID == "" {
		o.GroupID = DefaultMirrorGroupID
	}
	if o.LocalTopic == nil {
		o.LocalTopic = func(remote string) string { return remote }
	}
	// A local partition holds the progress of one remote partition: two
	// remote topics mirrored into one local topic would share it, and the
	// Mirror would skip the records of one as if it had mirrored them.
	mirroredFrom := make(map[string]string, len(o.Topics))
	for _, remote := range o.Topics {
		local := o.LocalTopic(remote)
		if local == "" {
			return fmt.Errorf("kafkabridge: MirrorOptions.LocalTopic names no local topic for remote topic %q: %w", remote, eventlog.ErrInvalidTopic)
		}
		if other, ok := mirroredFrom[local]; ok {
			return fmt.Errorf("kafkabridge: MirrorOptions.LocalTopic mirrors both remote topics %q and %q into local topic %q; each remote topic needs a local topic of its own: %w",
				other, remote, local, eventlog.ErrInvalidConfig)
		}
		mirroredFrom[local] = remote
	}
	if o.MaxPartitionFetchBytes == 0 {
		o.MaxPartitionFetchBytes = eventlog.DefaultMaxPartitionFetchBytes
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	o.Topics, o.Brokers, o.ClientOptions = slices.Clone(o.Topics), slices.Clone(o.Brokers), slices.Clone(o.ClientOptions)
	return nil
}
