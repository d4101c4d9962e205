package eventlog

import (
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Durability says when an append counts as done, and how far the high
// watermark may run ahead of the disk.
type Durability int8

const (
	// DurabilityDefault inherits: a topic takes the Log's setting, an append
	// takes its topic's. The Log's default is DurabilityFsync.
	DurabilityDefault Durability = iota
	// DurabilityFsync acknowledges an append once it is fsynced: it survives
	// power loss. Concurrent appenders share fsyncs (group commit). This is
	// Kafka's acks=all on a topic flushed on every write.
	DurabilityFsync
	// DurabilityOS acknowledges an append once it is written to the operating
	// system: it survives the process crashing, not the machine losing power.
	// This is Kafka's acks=1.
	DurabilityOS
)

// String names the durability level.
func (d Durability) String() string {
	switch d {
	case DurabilityDefault:
		return "default"
	case DurabilityFsync:
		return "fsync"
	case DurabilityOS:
		return "os"
	}
	return fmt.Sprintf("Durability(%d)", int8(d))
}

func (d Durability) valid() bool { return d >= DurabilityDefault && d <= DurabilityOS }

// Defaults applied to zero fields of Options. They are Kafka's defaults where
// Kafka has one.
const (
	DefaultSegmentBytes       = 1 << 30            // segment.bytes
	DefaultSegmentAge         = 7 * 24 * time.Hour // segment.ms
	DefaultIndexIntervalBytes = 4096               // index.interval.bytes
	DefaultSegmentIndexBytes  = 10 << 20           // segment.index.bytes
	DefaultMaxBatchBytes      = 1<<20 + 12         // max.message.bytes (1048588)

	DefaultRetentionCheckInterval = 5 * time.Minute // log.retention.check.interval.ms
	DefaultRecoveryPointInterval  = time.Second     // log.flush.offset.checkpoint.interval.ms (Kafka: 1 minute)

	DefaultProducerIDExpiration      = 24 * time.Hour     // producer.id.expiration.ms
	DefaultTransactionalIDExpiration = 7 * 24 * time.Hour // transactional.id.expiration.ms
	DefaultOffsetsRetention          = 7 * 24 * time.Hour // offsets.retention.minutes (10080)

	DefaultCleanerBufferBytes   = 32 << 20         // log.cleaner.dedupe.buffer.size (Kafka: 128 MiB for all its cleaner threads)
	DefaultCleanerCheckInterval = 15 * time.Second // log.cleaner.backoff.ms
)

// RetainForever, as a Retention, keeps records however old they are; as
// an OffsetsRetention, committed offsets.
const RetainForever time.Duration = -1

// Options configure a Log. A nil or zero Options is all defaults. Open copies
// the struct; later changes to it have no effect. SegmentAge and Retention
// are kept in whole milliseconds, as Kafka's segment.ms and retention.ms
// are and as TopicConfig's durations are: a fraction of a millisecond
// rounds up.
type Options struct {
	// FS is the filesystem the Log uses. Default: OSFS{}.
	FS FS

	// Logger receives the library's log lines (recovery, repairs, failed
	// partitions). Default: discard.
	Logger *slog.Logger

	// Now tells the time of day: record timestamps, and the ages and
	// deadlines judged by them — segment ages, retention, compaction
	// lags, producer id expiry, transaction and session timeouts,
	// automatic commits — which a clock injected here moves at the next
	// call or check that looks. Waits are measured on the real clock
	// (time.Now and timers): a Producer's Linger, a Consumer's
	// FetchMaxWait, the intervals of the Log's background checks, so that
	// an injected clock that stands still holds no batch or poll back for
	// ever; a test controls those with testing/synctest, whose bubble
	// fakes time.Now and timers alike. Default: time.Now.
	Now func() time.Time

	// Durability is the default for topics that do not set their own.
	// Default: DurabilityFsync.
	Durability Durability

	// SegmentBytes is the size at which a partition's active segment is
	// closed and a new one started (Kafka's segment.bytes). Default 1 GiB;
	// at least 1 KiB and at most 2 GiB less one byte (math.MaxInt32, as
	// Kafka's segment.bytes, an int).
	SegmentBytes int64

	// SegmentAge is the age after which a non-empty active segment is closed
	// on the next append or retention check (Kafka's segment.ms): once its
	// age, in whole milliseconds, exceeds SegmentAge, as in Kafka, so that
	// a segment exactly SegmentAge old stays open. The age
	// counts from when the segment's first record was appended, by Now,
	// whatever the records' timestamps; for the active segment found at
	// Open, from its first batch's timestamp, so that records stamped in
	// the past close it at the next chance. (Kafka compares the timestamps
	// of the records being appended with the first batch's.) Default 7
	// days.
	SegmentAge time.Duration

	// IndexIntervalBytes is how many bytes of log lie between two entries of
	// the sparse offset index (Kafka's index.interval.bytes). A read starts
	// at most this many bytes before the batch it wants. Default 4096.
	IndexIntervalBytes int

	// SegmentIndexBytes is the largest size of a segment's offset index; the
	// segment rolls when it is full (Kafka's segment.index.bytes).
	// Default 10 MiB.
	SegmentIndexBytes int

	// MaxBatchBytes is the largest record batch, as stored, that an append
	// accepts (Kafka's max.message.bytes), for topics whose TopicConfig
	// sets none. Larger appends fail with ErrRecordTooLarge, as do
	// compressed batches whose records exceed 64 times this before
	// compression (64 MiB at least, 1 GiB at most).
	// Partition.MaxBatchBytes reports the value in effect for a partition.
	// Lowering it at a reopen limits appends only: batches stored under a
	// higher value stay readable, since a read decompresses up to 1 GiB of
	// a batch whatever this says. Default 1 MiB + 12 bytes.
	MaxBatchBytes int

	// Retention is how long closed segments are kept, counted from their
	// newest record's timestamp (Kafka's retention.ms). Zero or
	// RetainForever keeps everything: unlike Kafka, whose default is seven
	// days, eventlog never deletes data nobody asked it to delete.
	Retention time.Duration

	// RetentionBytes caps a partition's size: the oldest closed segments are
	// deleted while the partition is larger (Kafka's retention.bytes). Zero
	// or -1 means no cap.
	RetentionBytes int64

	// RetentionCheckInterval is how often the Log deletes segments past
	// retention and closes active segments older than SegmentAge, so that
	// quiet topics age out too (Kafka's log.retention.check.interval.ms).
	// Default 5 minutes.
	RetentionCheckInterval time.Duration

	// CleanerBufferBytes is the memory a cleaning of a compacted partition
	// may use for its map from keys to their newest offsets (Kafka's
	// log.cleaner.dedupe.buffer.size). A partition with more distinct keys
	// written since its last cleaning than fit is cleaned in several
	// passes. Default 32 MiB; at least 4 KiB.
	CleanerBufferBytes int

	// CleanerMaxBytesPerSecond caps what the log cleaner reads and writes,
	// all partitions together (Kafka's
	// log.cleaner.io.max.bytes.per.second). Zero means no cap, the default.
	CleanerMaxBytesPerSecond int64

	// CleanerCheckInterval is how often the background cleaner looks for
	// compacted partitions due for cleaning (Kafka's
	// log.cleaner.backoff.ms). Default 15 seconds.
	CleanerCheckInterval time.Duration

	// RecoveryPointInterval is how often the Log persists, in the
	// background, each partition's recovery point: how far its active
	// segment is known to be fsynced (Kafka's
	// log.flush.offset.checkpoint.interval.ms). After a crash, Open checks
	// the bytes after it, so a shorter interval means a faster reopen and
	// more damage recognised as corruption rather than cut as a torn tail,
	// for a few more background fsyncs. Default 1 second.
	RecoveryPointInterval time.Duration

	// ProducerIDExpiration is how long a partition remembers an idempotent
	// producer that has not written to it (Kafka's
	// producer.id.expiration.ms): after that, a batch it appends again is
	// no longer recognised as a repeat. It counts from the producer's last
	// append (from the Open that replayed it, after a crash), or from the
	// newest timestamp of its records if that is later; unlike Kafka, which
	// counts from the records' timestamps alone, so that records appended
	// with old timestamps do not make their producer forgotten at once. A
	// producer with an open transaction is never forgotten. Default 24
	// hours.
	ProducerIDExpiration time.Duration

	// TransactionalIDExpiration is how long the transaction coordinator
	// keeps a transactional ID that has had no transaction (Kafka's
	// transactional.id.expiration.ms): once the ID's last change of state
	// — a Producer of it made, a transaction of it begun or ended — is
	// that old, and no transaction of it is open or being completed, the
	// Log forgets the ID, writing a tombstone for it to
	// __transaction_state, whose compaction then drops its records. The
	// ID's next Producer starts afresh, with a new producer id, as in
	// Kafka; a Producer of the ID made before, idle all that time, is
	// fenced: its next transaction fails with ErrProducerFenced. The Log
	// looks every second. Default 7 days.
	TransactionalIDExpiration time.Duration

	// OffsetsRetention is how long the committed offsets of a consumer
	// group nobody consumes with are kept (Kafka's
	// offsets.retention.minutes, KIP-211). Those of a group that members
	// joined expire once it has had no member for OffsetsRetention, all
	// together; those of a group that only commits — a Consumer that
	// assigns its partitions by hand, CommitGroupOffsets — each
	// OffsetsRetention after its commit (such a Consumer's automatic
	// commits write its positions again, moved or not, every half
	// OffsetsRetention, as Kafka's write them at every interval). Nothing
	// expires while the group has members, nor an offset that a transaction still open or not yet
	// durable may change. The Log writes a tombstone for each expired
	// offset to __consumer_offsets, which compaction then drops, and
	// forgets the offset once the tombstone is durable: fetching it finds
	// none, and a Consumer of the group starts from its AutoOffsetReset.
	// A group with members once that then has no offsets left dies: a
	// tombstone for its metadata goes too, Groups and DescribeGroup no
	// longer show it, and the next member to join starts it afresh at
	// generation 1. The Log looks every 10 minutes (Kafka's
	// offsets.retention.check.interval.ms); a read-only Log never
	// does. Zero means the default, 7 days; RetainForever keeps offsets
	// for ever; other negative values are invalid.
	OffsetsRetention time.Duration

	// Repair lets Open cut a partition at corrupt data found before its
	// recovery point, instead of failing with *CorruptError. What is cut is
	// first copied to a file named "<segment>.log.broken-<unix nanos>" beside
	// the segment. Torn tails after the recovery point are always cut, with
	// or without Repair. With Repair, Open reads every partition's active
	// segment whole, not from its last index entry, and the internal
	// topics, which Open replays whole, are checked whole and cut at damage
	// anywhere; damaged partition metadata files and a damaged
	// producer-ids.meta are set aside too, a partition whose files show
	// that segment files are missing restarts past the offsets they held,
	// and a segment file that overlaps the one before it, or starts past
	// its end, is set aside.
	// Log.Recovery lists the copies kept; see Recovery in the package
	// documentation.
	Repair bool

	// ReadOnly opens the log to read it without changing anything: no
	// file or directory is created, written, truncated, renamed or
	// removed, and the directory lock is not taken, so that a tool can
	// read a log that another process has open for writing. Damage the
	// writer's recovery would cut (a torn tail, or a batch being written)
	// ends what is readable instead. Every call that would write fails
	// with an error wrapping ErrReadOnly; Log.Refresh picks up what other
	// processes appended since Open. See "Read-only mode" in the package
	// documentation. Kafka has no such setting: its tools read segment
	// files directly (kafka-dump-log). Incompatible with Repair.
	ReadOnly bool

	// PoisonViews makes misuse of RecordView lifetimes show, for tests:
	// each view gets a copy of its bytes, overwritten with 0xDB when the
	// view expires, so that a key or value kept past its loop step reads
	// as garbage rather than as plausible data. It costs an allocation and
	// a copy per record. eventlogtest.New turns it on. Default off.
	PoisonViews bool
}

// withDefaults returns a validated copy of o with zero fields defaulted.
func (o *Options) withDefaults() (Options, error) {
	var c Options
	if o != nil {
		c = *o
	}
	if c.FS == nil {
		c.FS = OSFS{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Durability == DurabilityDefault {
		c.Durability = DurabilityFsync
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentAge == 0 {
		c.SegmentAge = DefaultSegmentAge
	}
	if c.IndexIntervalBytes == 0 {
		c.IndexIntervalBytes = DefaultIndexIntervalBytes
	}
	if c.SegmentIndexBytes == 0 {
		c.SegmentIndexBytes = DefaultSegmentIndexBytes
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.Retention == 0 {
		c.Retention = RetainForever
	}
	// As TopicConfig's, which override them (see TopicConfig.inMilliseconds).
	c.SegmentAge, c.Retention = ceilMillisecond(c.SegmentAge), ceilMillisecond(c.Retention)
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.RetentionCheckInterval == 0 {
		c.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if c.RecoveryPointInterval == 0 {
		c.RecoveryPointInterval = DefaultRecoveryPointInterval
	}
	if c.CleanerBufferBytes == 0 {
		c.CleanerBufferBytes = DefaultCleanerBufferBytes
	}
	if c.ProducerIDExpiration == 0 {
		c.ProducerIDExpiration = DefaultProducerIDExpiration
	}
	if c.TransactionalIDExpiration == 0 {
		c.TransactionalIDExpiration = DefaultTransactionalIDExpiration
	}
	if c.OffsetsRetention == 0 {
		c.OffsetsRetention = DefaultOffsetsRetention
	}
	if c.CleanerCheckInterval == 0 {
		c.CleanerCheckInterval = DefaultCleanerCheckInterval
	}
	switch {
	case !c.Durability.valid():
		return c, fmt.Errorf("%w: Durability %d", ErrInvalidConfig, c.Durability)
	case c.SegmentBytes < 1024 || c.SegmentBytes > math.MaxInt32:
		return c, fmt.Errorf("%w: SegmentBytes %d is outside [1024, %d]", ErrInvalidConfig, c.SegmentBytes, math.MaxInt32)
	case c.SegmentAge < 0:
		return c, fmt.Errorf("%w: SegmentAge %v is negative", ErrInvalidConfig, c.SegmentAge)
	case c.IndexIntervalBytes < 1:
		return c, fmt.Errorf("%w: IndexIntervalBytes %d is below 1", ErrInvalidConfig, c.IndexIntervalBytes)
	case c.SegmentIndexBytes < 4*offsetEntrySize:
		return c, fmt.Errorf("%w: SegmentIndexBytes %d is below %d", ErrInvalidConfig, c.SegmentIndexBytes, 4*offsetEntrySize)
	case c.MaxBatchBytes < batchHeaderSize+16 || c.MaxBatchBytes > math.MaxInt32/2:
		return c, fmt.Errorf("%w: MaxBatchBytes %d is outside [%d, %d]", ErrInvalidConfig, c.MaxBatchBytes, batchHeaderSize+16, math.MaxInt32/2)
	case c.Retention < RetainForever:
		return c, fmt.Errorf("%w: Retention %v is negative (use RetainForever)", ErrInvalidConfig, c.Retention)
	case c.RetentionBytes < -1:
		return c, fmt.Errorf("%w: RetentionBytes %d is below -1", ErrInvalidConfig, c.RetentionBytes)
	case c.RetentionCheckInterval < 0:
		return c, fmt.Errorf("%w: RetentionCheckInterval %v is negative", ErrInvalidConfig, c.RetentionCheckInterval)
	case c.RecoveryPointInterval < 0:
		return c, fmt.Errorf("%w: RecoveryPointInterval %v is negative", ErrInvalidConfig, c.RecoveryPointInterval)
	case c.CleanerBufferBytes < minCleanerBufferBytes:
		return c, fmt.Errorf("%w: CleanerBufferBytes %d is below %d", ErrInvalidConfig, c.CleanerBufferBytes, minCleanerBufferBytes)
	case c.CleanerMaxBytesPerSecond < 0:
		return c, fmt.Errorf("%w: CleanerMaxBytesPerSecond %d is negative", ErrInvalidConfig, c.CleanerMaxBytesPerSecond)
	case c.ProducerIDExpiration < 0:
		return c, fmt.Errorf("%w: ProducerIDExpiration %v is negative", ErrInvalidConfig, c.ProducerIDExpiration)
	case c.TransactionalIDExpiration < 0:
		return c, fmt.Errorf("%w: TransactionalIDExpiration %v is negative", ErrInvalidConfig, c.TransactionalIDExpiration)
	case c.OffsetsRetention < RetainForever:
		return c, fmt.Errorf("%w: OffsetsRetention %v is negative (use RetainForever)", ErrInvalidConfig, c.OffsetsRetention)
	case c.CleanerCheckInterval < 0:
		return c, fmt.Errorf("%w: CleanerCheckInterval %v is negative", ErrInvalidConfig, c.CleanerCheckInterval)
	case c.ReadOnly && c.Repair:
		return c, fmt.Errorf("%w: Repair writes, and ReadOnly forbids it", ErrInvalidConfig)
	}
	return c, nil
}
