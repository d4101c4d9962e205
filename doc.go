// Package eventlog gives a Go program Kafka's model inside its own process:
// topics split into partitions, records appended at dense offsets, durable
// acknowledgement, and reads from any offset or time. Data lives in a
// directory of segment files in Kafka's own RecordBatch v2 format. There is
// no broker and no network: import the package and Open a directory.
//
// # The nouns
//
//   - Log: an open directory. Open it with Open, release it with Close. It
//     owns every goroutine the package starts and every open file.
//   - Topic: a named stream with a fixed number of partitions, made with
//     Log.CreateTopic. Its configuration is stored with it.
//   - Partition: one ordered, append-only sequence of records. Append stores
//     a batch; Read returns records from an offset; OffsetForTime finds the
//     first record at or after a time; Wait blocks until new records arrive.
//   - Producer: sends records to topics the way Kafka's producer does,
//     batching per partition and choosing partitions by key.
//   - Consumer: reads assigned partitions from positions it keeps, blocking
//     in Poll until records arrive.
//   - Record: key, value, headers and timestamp. A nil key or value is
//     Kafka's null, distinct from empty; a nil value is a tombstone.
//   - RecordView: a record read in place, valid for one step of the loop
//     that yielded it: what Partition.Views, Partition.Cursor,
//     Consumer.Views and Log.Replay hand out, so that a replay allocates
//     nothing per record.
//
// The eventlogtest package gives unit tests a throwaway Log in one line,
// in t.TempDir(), without fsyncs, closed when the test ends. Close, of any
// Log, ends every goroutine the Log started and closes and unmaps its
// files, once the iterators still reading its segments end.
//
// # On-disk layout
//
//	<dir>/LOCK                             exclusive lock of the open Log
//	<dir>/CLEAN_SHUTDOWN                   present only while closed cleanly
//	<dir>/topics/<topic>/topic.meta        topic configuration
//	<dir>/topics/<topic>/<partition>/<base offset, 20 digits>.log
//	                                      .../<base>.index, <base>.timeindex
//	                                      .../recovery.meta (recovery point)
//	                                      .../cleaner.meta (compacted topics)
//	                                      .../log-start-offset (after DeleteRecords or retention)
//	                                      .../<offset>.snapshot (producer state)
//	                                      .../<base>.txnindex (aborted transactions)
//	<dir>/topics/<topic>~deleted-<n>/...   a topic being deleted; Open removes it
//	<dir>/topics/__consumer_offsets/0/...   committed offsets of consumer groups
//	<dir>/topics/__transaction_state/0/... transactional IDs and their state
//	<dir>/producer-ids.meta                the next block of producer ids
//
// Every directory under <dir>/topics is a topic; an entry there that is not
// a directory, such as a .DS_Store, is ignored and left alone, as Kafka
// ignores stray files in its log directories.
//
// A .log file is a sequence of Kafka RecordBatch v2 batches (magic 2,
// CRC-32C, varint records), byte for byte as Kafka writes them, optionally
// compressed per batch with gzip, snappy, lz4 or zstd. The .index and
// .timeindex files are Kafka's sparse offset and time indexes; they carry no
// authority and are rebuilt from the log whenever they are missing or
// inconsistent: a load checks their ends against the log, and a read or a
// lookup by time checks the entries it relies on (a segment whose records
// have no timestamps has an empty time index). A rebuild that meets damage
// in the log keeps what it indexed before the damage, and is not tried
// again by later reads. The .txnindex files are Kafka's aborted-transaction indexes
// — unlike Kafka, which writes one at a segment's first abort, every closed
// segment of a partition with producers has one, empty without aborts, so
// that a lost one shows — and the .snapshot files are Kafka's producer
// snapshots (ProducerSnapshot version 1), which checkpoint what a partition
// knows of its idempotent producers (see Idempotent producers): an entry for
// each of a producer's last five batches, the last of which is what a broker
// loads, and a first entry, for producer id -1, about the .txnindex. A
// partition that never had a producer has neither, and Open reads nothing
// for it. Open rebuilds these from the log too when they do not check out,
// when a closed segment's .txnindex is missing, or when the snapshots are
// gone (see Idempotent producers). None of these files is read whole when it
// is larger than a sound one can be (an index, more than an entry per batch
// of its segment; a snapshot, more than two entries per offset below its own):
// a damaged file cannot exhaust memory. Metadata files carry a version and a
// checksum and are replaced atomically, through a copy named "<name>.tmp"
// renamed over them; Open removes the copies a crash left, matching the
// names of those files only (a user's file named *.tmp stays).
//
// # Durability
//
// A topic promises one of two levels. DurabilityFsync (the default): an
// append returns once its batch is fsynced, so it survives power loss;
// concurrent appenders share fsyncs (group commit). DurabilityOS: an append
// returns once the batch is written to the operating system, so it survives
// the process crashing but not the machine losing power. An append may ask
// for either level regardless of the topic's.
//
// Readers see records only below the high watermark: the end of what is as
// durable as the topic promises. A record that a crash could still take away
// is never handed out.
//
// What a power loss leaves of a partition is everything below its recovery
// point (see Recovery), then as many of the later batches as reached the
// disk whole and in order. On a DurabilityFsync topic that includes every
// acknowledged record. On a DurabilityOS topic an acknowledgement promises
// nothing about power loss: the records appended since the last fsync — a
// segment roll, a Close, an append that asked for DurabilityFsync, or the
// Open after a crash — may be gone, and their offsets go to the next
// appends. Close fsyncs every partition, DurabilityOS ones included, so
// after a clean Close everything is durable. A roll's fsync holds up the
// partition's appends, so on a DurabilityOS topic the Log has the OS start
// writing the active segment out as it grows, 4 MiB at a time, in the
// background (sync_file_range on Linux; File.StartWriteback for other
// file systems): a roll then waits for the last few mebibytes rather than
// the whole segment. That makes nothing durable in the sense above.
//
// A failed write or fsync fails the partition: that append, those still
// waiting for an fsync, and every later one return the error until the Log
// is reopened, because after a failed fsync the kernel may have dropped the
// dirty data, and a later fsync that succeeds does not bring it back. The
// fsyncs of a partition's segments run one at a time, so that none
// acknowledges a batch after one has failed. On Linux the pages whose
// writeback failed stay in the page cache, marked clean: any process reads
// them as written until the machine restarts, but no fsync writes them. So
// the Open after a crash, or after a Close that reported the error, in
// this process or another, writes the bytes it keeps past each active
// segment's recovery point again before it fsyncs them, as they are:
// dirty again, they reach the disk or the fsync fails, and the records a
// reader sees or a retried batch is answered with after the reopen do not
// vanish in a later power loss. A full disk returns an error; it never
// crashes the process, because writes go through the file, never through
// a mapping.
//
// # Recovery
//
// Each partition keeps a recovery point, as Kafka does: how far its active
// segment is known to be durable, because an fsync covering it returned. The
// Log writes the points that moved to recovery.meta in the background, every
// Options.RecoveryPointInterval; appends never wait for it. A segment is
// fsynced before the next one is started, so only the last segment of a
// partition can hold bytes past its recovery point, and only that segment is
// read at Open, from the last index entry before the recovery point on.
//
// Below the recovery point, damage is corruption, as no crash can explain
// it: Open fails with a *CorruptError naming the file and position, and
// Options.Repair cuts it instead, keeping a copy. Above it, a crash can
// leave anything — a disk writes unsynced pages back in any order, so a
// later page may survive an earlier one — and the first batch that is
// incomplete, zeroed, garbled or out of sequence ends the log: it and
// everything after it is cut, without Repair, and reported in
// Log.Recovery. No acknowledged record is lost by that cut: every byte
// before the end of the last fsync is intact, so the first damaged batch
// lies after every record an fsync acknowledged. The persisted point may
// lag the truth, which only means more is checked and cut; it never runs
// ahead, since it is recorded only after the fsync that covers it.
//
// After a clean Close nothing is scanned, and since Close fsynced every
// byte, all of an active segment counts as below its recovery point: damage
// Open finds there (after the last index entry, which is all it checks) is
// corruption too, and Open writes that recovery point where the persisted
// one lags, so that a crash later in the session still counts those bytes
// as durable. Bytes of the active segment below the last index entry
// before the recovery point are not read at Open but, like closed
// segments, checked on every read: damage there is returned to the reader
// as a *CorruptError, never served and never cut. With Options.Repair,
// Open reads every active segment whole, so that it finds such damage and
// cuts it. Reopening thus costs the bytes written since the last recovery
// point, not the size of the log. Recovery is idempotent: a crash during
// recovery recovers the same way. After a crash, Open also fsyncs the
// directories it finds (the log's and its ancestors, topics/, every
// topic's and partition's) before it acknowledges anything: a process
// killed between creating or renaming a file and syncing its directory
// leaves a name that Open builds on, which must survive a later power
// loss. An Open that fails leaves the
// clean-shutdown marker in place, so that the next Open finds the same
// damage rather than taking it for a torn tail.
//
// The internal topics, __consumer_offsets and __transaction_state, are the
// exception: Open replays them whole, so damage anywhere in them fails Open
// with a *CorruptError. With Options.Repair, Open checks every batch of
// every segment of theirs and cuts at the first damaged one: the commits and
// transaction states after it are lost, those before it kept. What is cut is
// kept: the rest of the damaged segment as a copy, the later segments under
// their names with ".broken-<unix nanos>" appended. Damaged metadata files
// that Open refuses are repaired too, and set aside the same way: a
// cleaner.meta, which only saves the cleaner work, and a log-start-offset.
// Its offset is lost, and the log starts again at its first segment, as
// Kafka's does without the checkpoint: the records of that segment that
// DeleteRecords had removed are readable again (call it again to remove
// them). Starting later would remove records nobody deleted. A damaged
// producer-ids.meta, which without Repair fails every producer id allocation
// with a *CorruptError (Open does not read it), is set aside too, and ids
// start again above those in use and at the clock's floor, as when the file
// is lost (see Idempotent producers). Log.Recovery lists every copy kept.
//
// A segment's .log file that is missing — deleted by hand or lost with a
// damaged file system — is noticed where the partition's other files show
// records past the last .log file left, or show records in a partition
// that has none: the recovery point in a later segment, index files
// (.index, .timeindex, .txnindex) of a later segment, and, in a partition
// without any .log file, a recovery.meta, log-start-offset, cleaner.meta or
// producer snapshot, or the clean-shutdown marker (Close leaves a segment
// in every partition). Open then fails with a *CorruptError naming the
// missing segment, or the partition's directory when nothing says which.
// With Options.Repair, Open logs what was lost, reports it in
// Log.Recovery().LostSegments, and goes on: the partition
// restarts, in a new empty segment, at the highest offset those files and
// the producer snapshots show it reached, so that no offset they show was
// handed out is handed out again, and the records of the segments left stay
// readable. The lost segments' index files are set aside like damaged
// files, and the producer state is rebuilt from the records left. Open
// reads no segment to find this, so a loss that left no such trace goes
// unnoticed: a lost segment between two others (compaction leaves such gaps
// too) or before the first (retention and DeleteRecords remove those), and
// a last segment lost before its first recovery point checkpoint or index
// file, as a segment rolled moments before a crash may be; offsets past
// what the files show may then be handed out again. A read-only Log fails
// with the same *CorruptError, and Verify reports it as a corrupt problem;
// Verify also reports, outside compacted topics, a segment missing between
// two others.
//
// A .log file the partition did not write — copied in by hand or by a
// tool, or brought back by a restore from an older backup — would, as the
// last file, become the active segment: one whose base offset lies inside
// the offsets of the segment before it would hide the records of the real
// one from that offset on, and one whose base offset lies past the log
// end would move the log end there, or past its own records. A partition
// creates each segment where the one before it ends (or, after a repair
// of lost segments, past it with the recovery point in it), so Open
// checks that each segment created since the one its recovery point is in
// starts where the one before it ends, reading only the ends of those
// (usually none: the recovery point is in the last segment but for a
// while after a roll). An overlap, or offsets never written between two
// segments of a partition that was never compacted, fails Open with a
// *CorruptError naming both files and the offsets, as Kafka refuses a log
// with overlapping segments. (A segment wholly below the log start offset,
// which Open drops, is exempt: a power loss can bring back the file of one
// that retention or DeleteRecords removed, with a gap after it.) With
// Options.Repair, Open sets the later file aside, with its index files, as
// "<name>.broken-<unix nanos>", and goes on with the records before it;
// Log.Recovery lists the copy. A
// read-only Log refuses the same way, and Verify reports an overlap
// between any two segments, and offsets missing between them outside
// compacted topics, which Open does not look for among older, closed
// segments.
//
// A closed segment's .txnindex (its aborted transactions) cut short at an
// entry boundary reads at Open as one listing fewer aborts; the first
// read_committed read that needs it checks it against the segment's
// batches and mends it (see Idempotent producers).
//
// # Producers
//
// Log.NewProducer makes a Producer, safe for concurrent use. Send returns
// once the record is as durable as ProducerOptions.Acks asks: AcksAll, the
// default, once it is below the high watermark — as durable as its topic
// promises, fsynced by default; AcksLeader once it is written to the OS;
// AcksNone once it is buffered. (A transactional Producer must have
// AcksAll, as in Kafka; inside a transaction Send returns once the record
// is written to the OS, and the commit makes it durable.) SendAsync calls
// a function with the result instead, exactly once per record and in
// offset order per partition, or forgets it when the function is nil; Flush waits for everything sent so
// far, and Close flushes. The function runs while the partition's later
// batches wait for it, so the calls from it that would wait for appends
// (Send, Flush, Close, ending a transaction, Log.Close) fail at once with
// ErrConcurrentUse instead of waiting for it for ever. Records bound for one
// partition are encoded into one batch — one RecordBatch on disk — until
// BatchBytes or Linger is reached; records that arrive while their
// partition's previous batch is being appended go together in the next one,
// so concurrent Sends share fsyncs. A keyed record goes to the partition
// Kafka's default partitioner would pick (murmur2 of the key), so keys land
// on the same partition numbers as in a Kafka cluster with as many
// partitions; a keyless one goes to a sticky partition per batch.
// ManualPartitioner honours Record.Partition. The core record is bytes;
// TypedProducer and TypedConsumer add Serializers and Deserializers
// (strings, Kafka's big-endian integers, JSON, or your own).
//
// # Conditional appends
//
// An event-sourced aggregate needs to append an event only if nobody
// appended to its stream since it read it, as EventStoreDB's expected
// revision and NATS JetStream's expected last sequence do. An append with
// AppendOptions.Condition set to IfEndOffset(n) — or Producer.SendIf — is
// stored only if the partition's log end offset is n, that is if its first
// record gets offset n; otherwise it stores nothing and fails with an
// *UnexpectedOffsetError (errors.Is ErrUnexpectedOffset) carrying the
// actual end, so that the writer reloads, decides again and retries. The
// condition is decided under the partition's append lock, after every
// append ahead of it took its offsets: of concurrent writers expecting the
// same end, exactly one wins; a refused append costs the group commit of
// the others nothing. A stream is a partition: give each aggregate a topic
// (or a partition) of its own, since any append to the partition moves its
// end. examples/aggregate shows the load-decide-append loop.
//
// # Idempotent producers
//
// A batch appended with AppendOptions.Producer carries Kafka's producer
// id, epoch and base sequence (AppendOptions.Sequence). Each partition
// remembers, per producer, the sequences and offsets of its last five
// batches, so that the same batch appended again — a retry after a timeout
// or a crash, when the caller cannot know whether the first attempt was
// stored — is answered with the offsets it got the first time and not
// stored twice; a batch whose sequence does not follow the last one fails
// with ErrOutOfOrderSequence, one of an older epoch with
// ErrProducerFenced. Log.NewProducerID hands out ids that no producer of
// the directory ever had (reserved on disk a block at a time); an
// application keeps its id and numbers its batches from its own state, so
// that after a restart it appends again exactly what it may have appended
// before. Partition.AppendBatch applies the same checks to a Kafka client's
// batches. Both refuse the id of a transactional Producer, whose
// transactions a higher epoch would fence in the partition. A block of
// ids is fsynced before any of its ids is handed out, so a crash never
// makes producer-ids.meta lag. When it is lost, or lags behind
// the ids in use (restored from an old copy), the ids start above every id
// the partitions' producer state and __transaction_state hold, and above any
// id a partition takes a first batch of later (a producer that kept its id
// across the restart, appending again), and the Log logs a warning: no
// partition takes a new producer for an old one. Ids handed out and kept
// but not yet used in an append or a transaction (a Kafka client of
// kafkaserver keeps its id across a restart of the server), or forgotten
// by every partition (ProducerIDExpiration), leave no trace; so the ids
// then also start at a floor read off the clock (Options.Now): 100,000
// for every millisecond since the Unix epoch, about 1.8e17 in 2026, above
// every id handed out before unless the directory handed out more than
// that many a millisecond or the clock went back. The floor applies only
// when the file is missing in a directory an earlier Open created, was
// set aside as damaged, or shows itself behind; a new directory starts
// at 1, and one that keeps its file goes on from it whatever the clock
// says. A file restored from an old copy that no id in use shows behind
// cannot be told from a current one: delete it instead of restoring it.
//
// What a partition knows of its producers survives reopening: a ".snapshot"
// file is written before the first batch with a producer id, then by the
// background checkpointer when it changed (RecoveryPointInterval) and at
// Close; Open loads the newest one at or below the log end (removing,
// durably, those past it) and reads the batch headers after it. When none is
// left — the files were deleted, or a cut of Options.Repair left them past
// the log end — Open rebuilds the producer state and the .txnindex files
// from the whole log, as Kafka does, if anything shows the partition had
// producers: snapshots Repair removed, a .txnindex file (every closed
// segment of a partition with producers has one), or a batch with a producer
// id among the last of the active segment. Reading the whole log of every
// partition without a snapshot would make each Open cost the size of the
// log, so a partition whose snapshots were deleted, that has only its active
// segment (or lost the .txnindex files too), no aborted transaction in it,
// and whose producers wrote only before its last few KiB looks like one that
// never had a producer. A closed segment's .txnindex deleted while the
// snapshots are there makes Open rebuild the producer state and the
// .txnindex files from the log too, as one that does not check out does:
// without it the segment's aborted transactions would show to read_committed
// readers. One emptied or cut short at an entry boundary (a tail lost to a
// power cut, a truncated copy) cannot be told at Open from one with fewer
// aborts without reading the segment, which would make Open cost the size
// of the log; so the first read_committed read (or AbortedTransactions, or
// a cleaning) that needs a closed segment's aborted transactions as Open
// took them from its file reads the batch headers of that segment and those
// after it once, derives their aborts as Open's replay does, mends the list
// in memory and rewrites a file that lacked entries (counted in
// RecoveryStats.IndexesRebuilt). That read waits for it; later ones do not.
// A segment whose batches do not parse keeps its file's list (reading its
// records reports the damage). Verify reports such a file too.
// (A log written by a version of this package that made
// .txnindex files only for aborts has them rebuilt so once.) A producer idle
// longer than Options.ProducerIDExpiration (Kafka's
// producer.id.expiration.ms, a day by default) is forgotten, and then any
// sequence starts it again. ProducerOptions.Idempotent makes a Producer
// stamp its batches so, though it never resends one itself (see its
// documentation); a transactional Producer always does.
//
// # Transactions
//
// A Producer with a ProducerOptions.TransactionalID sends its records in
// transactions, as Kafka's does: BeginTransaction, Send and SendAsync to
// any topics and partitions, SendOffsetsToTransaction to commit a consumer
// group's offsets with the output, then CommitTransaction or
// AbortTransaction. A committed transaction is visible to read_committed
// readers whole in each partition, from the moment that partition's COMMIT
// marker is written (the markers go to the partitions one after another,
// as in Kafka); an aborted one never is. This is what a
// consume-transform-produce worker needs for exactly-once output
// (examples/exactlyonce): its output and its input position are stored
// together or not at all.
//
// The transaction coordinator keeps each transactional ID's state —
// Kafka's Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit and
// CompleteAbort — in the internal topic __transaction_state, in Kafka's
// record layout. A partition joins a transaction durably before any of
// its records is written; a commit fsyncs the transaction's records, then
// its PrepareCommit decision, then writes a COMMIT control batch (a
// marker, byte for byte Kafka's) to every partition of the transaction,
// fsynced, then CompleteCommit. Open finishes a prepared transaction and
// aborts an open one (its Producer died with the process), so that after a
// crash at any point a transaction is all there or not at all. A
// transaction open longer than ProducerOptions.TransactionTimeout (Kafka's
// transaction.timeout.ms, a minute by default) is aborted by the Log. A
// transactional ID that has had no transaction for
// Options.TransactionalIDExpiration (Kafka's
// transactional.id.expiration.ms, 7 days by default) is forgotten, with a
// tombstone in __transaction_state, so that neither the coordinator's
// memory nor the topic grows with every ID ever used: the ID's next
// Producer starts afresh with a new producer id, as in Kafka, and a
// Producer of it idle all that time is fenced. A new
// Producer with the same TransactionalID aborts its predecessor's open
// transaction and fences it: the old Producer's calls, and its batches at
// any partition of that transaction, fail with ErrProducerFenced. A
// partition asks the coordinator before it takes the first batch of a
// transaction (Kafka's transaction verification), so that it refuses a
// fenced Producer's late batch even once it has forgotten that producer
// (ProducerIDExpiration), rather than begin a transaction nothing would end.
// Inside a transaction a Send returns once its record is written; the
// commit makes them all durable together, whatever the topics'
// durability, so a 1000-record transaction costs a handful of fsyncs.
// Offsets added with SendOffsetsToTransaction are pending until the
// transaction ends — if it commits, until the COMMIT marker in their
// __consumer_offsets partition is durable, when they become the group's
// committed offsets: a consumer of the group that would start from them
// waits (Position returns ErrUnstableOffsetCommit meanwhile). As in Kafka,
// a group's commits of a partition are ordered by their records in
// __consumer_offsets, not by the transaction's marker: an offset
// committed otherwise (CommitSync, CommitGroupOffsets) after
// SendOffsetsToTransaction, while the transaction is open, stays the
// committed offset when the transaction commits — which is also the
// record compaction of __consumer_offsets keeps. Mixing the two kinds of
// commit for one group and partition is best avoided. A record of
// the transaction that is not stored — refused by Send or SendAsync (an
// unknown topic, a record too large, an ended ctx), or failed when its
// batch was written — or offsets that SendOffsetsToTransaction refused
// make CommitTransaction abort it instead, as Kafka's producer does,
// whether or not the caller looked at the error.
//
// A transaction's outcome is decided once its PrepareCommit or
// PrepareAbort is durable, and from then on the coordinator owns the rest,
// as Kafka's does. A partition that cannot take its marker does not stop
// the others from getting theirs; CommitTransaction (or AbortTransaction)
// then returns an error wrapping ErrTransactionIncomplete, and the Log
// writes what is missing itself, trying every second, or at the next Open
// if it is closed first. The outcome stands and nothing of the
// transaction is lost meanwhile, but a partition without its marker holds
// read_committed readers before the transaction's first record there, and
// offsets whose __consumer_offsets partition lacks its marker stay
// pending. The Producer takes only the same end call again, which returns
// once the transaction is complete; its Close leaves the transaction to
// the Log. A partition that failed on a write or fsync (see Durability)
// takes no append, its marker included, until the Log is reopened: the
// transactions it holds complete at that Open. When that partition is
// __transaction_state's, failed on the write of a commit's decision,
// CommitTransaction cannot know whether the decision is on disk: it fails
// without ErrTransactionIncomplete, and the next Open commits the
// transaction if the decision reached the disk, aborts it if not. The
// record of a transaction's end (CompleteCommit, CompleteAbort), written
// once every marker is, is not waited for: a crash before the Log's
// background fsync may lose it, and Open then finishes the transaction
// again, as Kafka's coordinator does one it finds prepared: its partitions
// get a second marker of the same outcome, which changes nothing a reader
// sees (Partition.Batches lists it) and which compaction removes as any.
//
// # Isolation
//
// ConsumerOptions.IsolationLevel is Kafka's isolation.level. ReadCommitted,
// the default — Kafka's default is read_uncommitted, but an in-process log
// has no reason to hand out what an abort will take back — reads up to each
// partition's last stable offset (Partition.LastStableOffset: the first
// record of its oldest transaction not yet decided, or the high watermark)
// and skips the records of aborted transactions. ReadUncommitted reads to
// the high watermark, the records of open and aborted transactions
// included. No reader ever sees a control batch. Log.Replay and
// ReplayLatest read committed, and do not wait for an open transaction:
// they stop at its first record; Partition.Read, Views and Cursor, the
// low-level reads, read uncommitted. A partition keeps its aborted
// transactions in memory, loaded from its .txnindex files (checked against
// the segments' batches on first need: see Idempotent producers), so a
// read_committed read knows, before reading a batch, whether to skip it;
// a partition that never had a transaction pays one pointer check and one
// atomic load per read for all this, and reads at the same speed at both levels.
// Partition.AbortedTransactions lists them for a range of offsets, as a
// Kafka broker lists them in a fetch response (the kafkaserver sub-module
// serves read_committed fetches so). A Log opened with Options.ReadOnly
// reads committed too: it learns the transactions from the batch headers
// of the partitions that have producers, at Open and at each Refresh.
//
// # Consumers
//
// A Consumer reads the partitions assigned to it. Each has a position, the
// offset of the next record to return: Seek, SeekToBeginning, SeekToEnd and
// SeekToTime set it; without one, or when it fell outside the log (retention
// deleted it, or it is past the end), ConsumerOptions.AutoOffsetReset
// decides: the end (latest, Kafka's default), the log start offset
// (earliest) or an error (none). A partition's end, for a consumer, is its
// last stable offset at ReadCommitted, the default, and its high watermark
// at ReadUncommitted (see Isolation). Poll blocks until FetchMinBytes of
// records are there, FetchMaxWait passes, its context ends, or Wakeup is
// called (ErrWakeup); it is woken by appends, so an idle consumer uses no
// CPU. Records ranges over what Poll returns; ReadToEnd stops at the
// partitions' ends as they were when it started, which is how a cache is
// rebuilt (with OffsetResetEarliest: retention overtaking the loop resets
// its position as AutoOffsetReset says, see ReadToEnd).
// Views and ViewsToEnd are the same loops over RecordViews; Records and
// ReadToEnd clone the views they are built on. Damaged data is reported at
// every poll, never skipped. A Consumer is for one goroutine at a time
// (a call while another runs fails with ErrConcurrentUse); Wakeup, Close,
// Assignment and Paused are safe from any.
//
// # Consumer groups
//
// Consumers with the same ConsumerOptions.GroupID that Subscribe (to topics,
// or to a pattern) form a consumer group, as in Kafka: the Log's in-process
// coordinator gives each partition of the subscribed topics to at most one
// member, so the members split the work; members beyond the partition count
// idle, and groups read independently of each other. A member joins at its
// first Poll. Members joining, leaving (Close, Unsubscribe) or going silent
// — not calling Poll within MaxPollInterval, which evicts them — make the
// group rebalance into a new generation. A RebalanceListener hears of it on
// the member's own goroutine, inside Poll: OnPartitionsRevoked while the
// member still owns what it gives up (the place to commit),
// OnPartitionsAssigned after, OnPartitionsLost when an evicted member learns
// that its partitions went to others. A listener may call the consumer (to
// commit, seek) from that goroutine, not from others. A Poll returns
// records of one assignment: the assignment changes only while Poll holds
// no records.
//
// ConsumerOptions.Assignor chooses who owns what. RangeAssignor (the
// default), RoundRobinAssignor and StickyAssignor rebalance eagerly: every
// member gives up everything, then gets its share (with StickyAssignor, as
// much of what it had as balance allows). CooperativeStickyAssignor
// rebalances incrementally: members go on consuming what stays theirs, and
// only the partitions that move are revoked. A static member (one with a
// GroupInstanceID) that closes keeps its partitions for SessionTimeout; a
// consumer with the same instance ID then gets them back without a
// rebalance.
//
// A member commits the offset of the next record it will consume:
// automatically (unless DisableAutoCommit: every AutoCommitInterval inside
// Poll, before a revocation and at Close), or with CommitSync, CommitAsync or
// CommitOffsets. Only a partition's owner can commit it; other commits fail
// with ErrCommitFailed, so a member evicted while busy cannot overwrite its
// successor's progress. A member that gets a partition starts at the group's
// committed offset, or where AutoOffsetReset says if there is none: what was
// consumed but not committed is consumed again (at least once). A consumer
// with a GroupID that assigns its partitions by hand commits them the same
// ways, automatic commits included, as Kafka's does, while the group has no
// members; so do Log.CommitGroupOffsets and offsets sent to a transaction
// with no member. A member that joins while such a commit is being written
// gets none of its partitions until it is, so that it starts from the
// offsets committed. Log.GroupOffsets reports each committed offset and
// its lag.
//
// Committed offsets are records of the internal, compacted topic
// __consumer_offsets, in Kafka's own key and value layout, as durable as the
// Log's Durability: CommitSync returns once fsynced, and the commits of many
// members share fsyncs. Open recovers the topic like any other, recovery
// point included, so no acknowledged commit is lost to a power loss, and
// reads them back. A committed offset past its
// partition's log end — records lost in a power loss on a DurabilityOS topic
// — is lowered to the log end at Open, durably, so that a consumer does not
// skip the records appended after the crash. Applications can read internal
// topics (names starting with "__") but not write them.
//
// Members live in the process that runs them, so the coordinator also
// writes each group's membership to __consumer_offsets, as Kafka's
// GroupMetadata record: when a generation completes (every member owns
// what it was assigned) and when the group becomes empty, with every
// member's ID, instance ID, client, timeouts, subscription and assignment
// in Kafka's consumer protocol encoding. It is written in the background
// shortly after the rebalance (at once when a member leaves, before the
// group's next commit, and at Close), handed to the OS without waiting for
// an fsync, so that rebalances are not slowed; a failed write is logged,
// and the next rebalance writes again. Open and a
// read-only Log's Refresh read the records back, and Log.DescribeGroup
// describes a group from the last one when no member of it joined in this
// process: a read-only Log (the eventlog command) sees the members and
// assignment of a group another process runs, as of its last rebalance
// (GroupDescription.Stored, StoredAt). Members of a process that crashed
// stay listed until a new member joins, as Kafka lists them until their
// session expires. A group's generations continue across reopens.
// Administration below describes DescribeGroup, ResetGroupOffsets and
// DeleteGroup.
//
// Committed offsets expire, as in Kafka since 2.1 (offsets.retention.minutes,
// KIP-211), so that groups used once — by a test suite, a short-lived job —
// do not grow memory and __consumer_offsets for ever. Every 10 minutes
// the Log looks: the offsets of a group that members joined expire once
// it has had no member for Options.OffsetsRetention (7 days by default),
// all together; those of a group that only commits (partitions assigned by
// hand, Log.CommitGroupOffsets) each OffsetsRetention after its commit;
// a Consumer's automatic commits write its positions again, moved or
// not, every half OffsetsRetention, so that they last while it polls.
// Nothing expires while the group has members, nor an offset that an open
// transaction or a commit not yet durable may change. The Log writes
// tombstones for the expired offsets to __consumer_offsets, fsynced, before
// it forgets them, so that a reopened Log does not have them either; the
// group's consumers then start from AutoOffsetReset. A group that members
// joined and that has no offsets left dies: its stored metadata gets a
// tombstone too, Groups and DescribeGroup no longer show it, and a member
// joining it starts a new group at generation 1. RetainForever keeps
// offsets for ever. A read-only Log expires nothing, and neither do the
// commands of cmd/eventlog, which keep them whatever the service's
// setting.
//
// # Retention
//
// Options.Retention and RetentionBytes (per topic in TopicConfig) delete
// whole closed segments older than the retention or beyond the size cap;
// the log start offset moves past them and a consumer positioned below it
// follows AutoOffsetReset. The same check deletes, whatever the settings,
// a closed segment wholly below the log start offset, which DeleteRecords
// left because it was active then. The default keeps everything: unlike
// Kafka's seven days, eventlog deletes nothing nobody asked it to. The Log
// checks every RetentionCheckInterval and then also closes active segments
// older than SegmentAge, so quiet topics age out too. A reader inside a
// segment being deleted finishes on intact bytes; one that had not reached
// it yet goes on from the new log start. A closed segment with
// damaged bytes is judged by the newest timestamp they may hold, the
// damaged batch's included; where the damage hides it (bytes that are no
// batch), the segment and those after it are kept and every check
// returns the *CorruptError, until Options.Repair cuts the damage. A
// damaged segment that retention deletes, by age or by size (which reads
// no segment, damaged or not), goes with no ".broken" copy, unlike what
// Repair cuts: its records, those the damage hides included, are past
// retention or beyond the cap, which a copy would defeat. Time retention
// logs the damage it judges a segment past.
//
// # Compaction
//
// A topic with CleanupPolicy CleanupCompact (Kafka's cleanup.policy=compact)
// keeps at least the newest record of every key, so that reading it from the
// start rebuilds a table or a cache: the latest value per key. A record with
// a nil Value is a tombstone: it deletes its key, stays readable for
// TopicConfig.DeleteRetention after the cleaner first sees it, so that a
// reader from the start within that time learns of the delete, and then goes
// with its key. Every record needs a key; Append refuses those without.
//
// The log cleaner rewrites closed segments below the high watermark and the
// last stable offset, never the active one, and merges the small ones it
// leaves. As Kafka's, it removes the records of aborted transactions (which
// never count as a key's newest value), and, as Kafka 3.x's (KIP-534), the
// transaction markers whose transactions have no batch left: a cleaning
// gives such a marker a delete horizon, now + DeleteRetention, so that a
// reader from the start within that time still sees where the transaction
// ended (an ABORT marker gets it from the cleaning after the one that
// removes its transaction's records, which the background cleaner runs a
// DeleteRetention later, written to or not), and a cleaning past the horizon
// removes it — unless a producer-state snapshot the partition keeps was
// taken while the transaction was open, which would then leave it open after
// a crash, so the marker waits for the snapshot to be pruned. As Kafka's, it
// keeps the last batch of each idempotent or transactional producer the
// partition remembers (but for an aborted one), emptied of its records when
// none stays, so that after a crash a retry of that batch is still
// recognised (AppendOptions.Producer), and the last marker of such a
// producer, emptied, when it alone carries the producer's epoch; readers
// skip such empty batches as they skip markers, and Partition.Batches lists
// an emptied marker without its ControlRecord. Offsets never change: removed
// records leave gaps, and a read from an offset that is gone starts at the
// next record. A background goroutine cleans a partition when its dirty
// ratio (bytes written since its last cleaning, over its closed segments'
// bytes) reaches MinCleanableDirtyRatio, when a record has waited longer
// than MaxCompactionLag, or when a delete horizon it noted has passed;
// records younger than MinCompactionLag wait. Log.Compact cleans a topic
// now. The cleaner's key map stays within Options.CleanerBufferBytes (more
// keys take several passes) and its I/O within
// Options.CleanerMaxBytesPerSecond. Cleaned segments replace old ones by a
// crash-safe protocol that Open finishes or undoes; readers inside a
// replaced segment read on undisturbed. Log.Stats reports the cleaner's work
// and each partition's dirty ratio.
//
// # Reading in place
//
// Partition.Read, Consumer.Poll, Records and ReadToEnd return copies. The
// view API reads without them: Partition.Views and Partition.Cursor,
// Consumer.Views and ViewsToEnd and Log.Replay yield *RecordView, whose
// Key, Value and headers point into the read-only mapping of the segment
// file, or into a buffer the loop reuses for a compressed batch; a
// Cursor's Key and Value do so without making the view. Log.ReplayLatest
// (the newest value per key, as a compacted topic stands for it) reads
// the same way and returns a map of copies. The rule:
//
//   - A view, and every slice and string it hands out, is valid until the
//     loop takes its next step or ends. Keep a record with Clone, or copy
//     what you need; never write into a view's bytes (they may be a
//     read-only mapping, and writing there kills the process).
//   - Options.PoisonViews, which eventlogtest turns on, gives each view
//     copies that are overwritten with 0xDB when it expires, so that code
//     breaking the rule fails its tests instead of reading stale bytes.
//
// Each batch's CRC-32C is checked once per loop, before any of its records
// is yielded; records are parsed a few at a time as they are yielded (8,
// then 64 at a time, into a table the views are made from), and records
// before the wanted offset in the first batch are skipped without being
// decoded. On amd64 an assembly parser takes the common records (lengths
// of up to two varint bytes, up to 63 headers) and the Go parser the rest,
// and CRCs are folded with AVX-512 carry-less multiplication where the CPU
// has it (hash/crc32 otherwise); the purego build tag turns the assembly
// off. A loop that has read 256 KiB of a segment and has at least 1 MiB more
// of it ahead has the CRCs checked on another core (read-ahead
// verification): a goroutine of the Log walks the same batches at most
// 768 KiB ahead of the loop (near enough that the loop finds the bytes the
// goroutine read still in a cache), and the loop
// skips the check of each batch the goroutine has vouched for and checks
// the others itself, so a busy machine slows nothing down. The goroutine
// also parses the records of the batches it checks into a table, from
// which the loop makes its views without decoding them; it parses an
// uncompressed batch in the same pass as it checks it, a kilobyte behind,
// so that the parse runs while the check waits for memory, and a loop
// checking a batch itself beside such a goroutine does the same. It
// decompresses compressed batches for the loop first (holding at most
// 8 MiB of them ahead), so that a compressed topic's decompression runs on
// both cores.
// When the loop gains on the goroutine, the goroutine leaves it the next
// batches to check and parse itself and goes on after them, so that the
// two cores share the work and neither waits for the other (a loop that
// catches up all the same waits for the batch the goroutine is on rather
// than parse it too). A table keeps where the keys and values lie apart
// from the rest, so that a loop reading only keys and values (a Cursor's
// Key and Value, Log.ReplayLatest) takes half of it from the other core. There is one
// such goroutine per core beyond the first (GOMAXPROCS - 1), shared by all
// loops; with GOMAXPROCS=1, or every spare core busy with another loop, a
// long loop checks and parses each batch itself, in one pass. A loop holds
// a reference to the segment it reads, so retention, a compaction swap or
// Close may drop the segment meanwhile: its mapping and file are released
// when the loop moves on or ends. A loop that retention or DeleteRecords
// overtook reads the rest of the segment it holds, then goes on from the
// new log start offset. A loop that outlives Close ends with ErrClosed at
// its next batch.
//
// Partition.Cursor is the same read pulled one step at a time (Next, View,
// Err, Close), for a merge of several partitions or a reader that goes on
// where it stopped. Its Key, Value and Offset read the current record
// without making a view, and Go inlines them and Next, so that a loop of
// Next taking each record's Key and Value makes no call for most records,
// where a Views loop makes the iterator's indirect call to its body and
// another to make the view: it is the fastest way to replay a partition
// (12–14% faster than Views in BENCHMARKS.md's last scans of issue 8).
// Close a cursor when done: until then it holds its segment and the
// read-ahead goroutine, which a cursor dropped unclosed gives back only
// once the garbage collector finds it.
//
// # Administration
//
// The Log has the operations of Kafka's Admin API that remove or reshape
// what exists. Log.DeleteTopic deletes a topic, its records and its
// committed offsets, those pending in an open transaction included (the
// transaction commits without them); handles on it (Partition, Producer
// sends, polls of a Consumer that assigned itself its partitions) then
// fail with ErrTopicNotFound, and the name can be used again. A Consumer subscribed
// to it, as with Kafka, skips its partitions until its group takes them
// away at the next rebalance, and leaves them out of its commits.
// Log.CreatePartitions adds partitions: keyed records then go to
// murmur2(key) % the new count, as in Kafka, and producers and groups pick
// the new partitions up. Log.TopicConfig returns a topic's own
// configuration, whose zero fields inherit the Log's Options;
// Log.TopicSettings returns the settings it runs with, every inherited
// one filled in, and whether each is the topic's own, the Options' or the
// library's default (Kafka's DescribeConfigs sources).
// Log.AlterTopicConfig replaces a topic's settings
// (retention, segment size, cleanup policy, durability, compaction lags),
// and Log.UpdateTopicConfig changes some of them by a read, modify and
// write that no other change of the topic comes between (Kafka's
// IncrementalAlterConfigs);
// a switch to compaction is refused while a record has no key, which the
// cleaner would drop. A topic's largest batch (max.message.bytes) cannot
// be altered; Partition.MaxBatchBytes reports the one in effect, the
// topic's own or the Log's. A reopen with a lower Options.MaxBatchBytes
// lowers it for the topics that inherit it, for appends only: batches
// already stored stay readable. Log.DeleteRecords moves a partition's log start
// offset forward (Kafka's DeleteRecords); it is kept in a checkpoint file
// next to the segments.
//
// For consumer groups, Log.DescribeGroup reports the state, generation,
// members, assignment and committed offsets with lag; Log.Groups lists
// the groups. Log.ResetGroupOffsets moves committed offsets to the
// earliest or latest offset, a time or an offset, or only plans it
// (kafka-consumer-groups --reset-offsets, with or without --execute), and
// Log.DeleteGroup deletes a group's offsets, those pending in an open
// transaction included, and its stored membership (with tombstones, as
// Kafka does); both refuse with ErrGroupNotEmpty while the
// group has members.
//
// Each operation is durable when it returns and crash-safe: after a crash
// Open finds the state before it or the state after it. A topic deletion
// commits by renaming the topic's directory to "<topic>~deleted-<n>",
// which Open finishes removing; the other changes replace a metadata file
// atomically or append one batch to __consumer_offsets. DeleteTopic waits
// for the calls in flight on the Log, so no reader is inside the topic's
// files when its name can be reused.
//
// # Statistics and metrics
//
// Log.Stats returns a snapshot, taken without I/O, of what a monitor
// watches. Per partition: the log start offset, high watermark and log
// end offset, segments and their bytes, the records and bytes appended
// since Open, how long appends and fsyncs took (LatencyHistogram: fixed
// exponential buckets that the append path only adds to), the dirty ratio
// and the cleaner's work. Per consumer group: state, members, generation,
// rebalances, committed offsets and lag. For the Log: the cleaner's totals
// and Recovery. Two modules of their own export it, so that this one needs
// no metrics library: github.com/eventlog/eventlog/metrics/prometheus, a
// Prometheus collector, and github.com/eventlog/eventlog/metrics/otel,
// OpenTelemetry instruments; examples/metrics is a service that serves
// /metrics.
//
// # Read-only mode
//
// Options.ReadOnly opens a log to look at it without changing it, for
// tools and for a second process that reads what a service writes. A
// read-only Log takes no lock, so it opens while another process has the
// log open for writing, and it creates, writes, truncates, renames and
// removes nothing: not the lock file, not the clean-shutdown marker, not a
// recovery point, not an index it had to rebuild (it rebuilds in memory).
// It starts no goroutine. It reads what Open would recover, without
// recovering it: an active segment is readable up to its last valid batch,
// and a torn tail, or the batch a live writer is writing, is simply not
// readable yet rather than cut; damage before a recovery point (after a
// clean close, anywhere in the active segment, which Close fsynced whole),
// and files that show segment files missing, fail Open with a
// *CorruptError, as they do for a writer. Every call that would
// write — CreateTopic, Append and AppendBatch, NewProducer, Subscribe,
// JoinGroupExternal, commits, Compact, the administration calls, a
// ResetGroupOffsets that is not a dry run — fails with an error wrapping
// ErrReadOnly. Consumers Assign and read; one
// with a GroupID starts at the group's committed offsets, and
// GroupOffsets, CommittedOffsets, DescribeGroup and Groups read them from
// __consumer_offsets. Members live in the process that runs them, so a
// read-only Log sees none.
//
// A read-only Log sees what others did to the directory since Open only
// when Log.Refresh is called: it lists the directory again and scans what
// was appended — new batches, rolled and deleted segments, compactions,
// new, deleted and grown topics, new and deleted committed offsets, as a
// fresh Open would see them even when the cleaner removed a deletion's
// tombstone since the last Refresh — and moves high watermarks, which
// wakes Partition.Wait and Consumer.Poll. A tool following a log calls
// Refresh on a ticker (the eventlog command's tail -f does, every 250ms by
// default). A read that meets a segment file the writer removed since the
// last listing — retention, DeleteRecords, a compaction swap — needs no
// Refresh: it lists that partition again and goes on in what the listing
// shows, from the log start if the records it was at are gone, as a
// writable Log's reader goes on when a segment is dropped under it. As a
// Kafka consumer must read a compacted topic within DeleteRetention, a
// read-only Log must Refresh within it: one that saw a transaction open
// and next refreshes after the cleaner removed its marker (DeleteRetention
// after the transaction ended) keeps it open, and its read_committed
// reads of that partition stop there, until it is opened again.
//
// Verify checks a log directory without opening it — every batch's CRC,
// offsets, the active segments against their recovery points, the closed
// segments' index entries and .txnindex files (and the active segments'
// .txnindex files of a cleanly closed log), producer-ids.meta, files that
// show segment files missing — and returns what it found with file and byte position;
// Partition.Batches walks the stored batches with their headers. Both are
// for tools such as cmd/eventlog.
//
// Caveat: a read-only Log maps segment files that another process owns.
// Nothing that process does under normal operation can pull mapped bytes
// from under it — recovery cuts only bytes past the last valid batch,
// which a read-only Log never hands out (an Open or Refresh scanning them
// when they are cut lists the directory again, rather than fault), and
// retention and compaction remove or replace whole files, whose contents
// stay readable to whoever has them open — but Options.Repair cuts
// damaged bytes that may have been read, so stop readers before repairing
// a log. On Windows, where a file another
// process has open may not be removable, the writer's retention can fail to
// delete a segment that a read-only Log holds open.
//
// # Concurrency
//
// A Log and its Partitions are safe for concurrent use. Appends to one
// partition are serialized; reads never block appends: a read opens and
// maps a segment holding no lock that appends, rolls, retention or
// DeleteRecords wait for, so a slow open or mmap holds up only the reads
// that need it. Retention too loads the indexes of the segments it judges
// by age before it takes the partition's locks, so a slow index load holds
// up no append, and it holds no lock of the topic registry, so its I/O
// holds up no CreateTopic or topic lookup (a DeleteTopic waits for it, as
// for every call in flight). A segment that retention, DeleteRecords or a compaction
// drops has its file closed and, for the first two, its files removed by
// its last holder, holding none of those locks either: retention and
// DeleteRecords let go of the partition's locks before they release the
// segments they drop, so a slow close or removal (a slow disk, a network
// filesystem) holds up no append; the call returns once it is done. They
// make the new log start offset durable holding no lock that appends or
// reads wait for either: only then do reads see it and the segments below
// it go. Close waits for calls in flight, wakes blocked Waits, and
// then fails every later call with ErrClosed.
//
// # Caveats
//
// Reads go through read-only memory mappings of the segment files. Every
// Record returned is a copy: its Key, Value and Headers belong to the caller
// and stay valid after the Log is closed. A RecordView is not: it is valid
// for one loop step (see Reading in place). A mapping is unmapped only after
// the last reader — a copying read or a view loop — is done with it, so a
// view loop left suspended keeps a dropped segment's file open and mapped.
//
// Each partition keeps its active segment's file open, and closed segments
// are opened on their first read and kept open until Close: plan for at
// least one file descriptor per partition plus one per segment read.
//
// On Linux and macOS the active segment is mapped once at its full possible
// size (SegmentBytes plus MaxBatchBytes) to avoid remapping while it grows;
// this costs address space, not memory. On Windows, where directories cannot
// be fsynced, new files are durable only once the filesystem commits its
// metadata. Compaction and topic deletion are not available on Windows,
// which refuses to remove or rename files that are open: Log.Compact and
// Log.DeleteTopic return an error wrapping errors.ErrUnsupported there, and
// compacted topics keep every record.
//
// A damaged batch fails its CRC-32C before its records are read. A batch
// made to pass it (anyone can compute the checksum) and to hold bad records
// fails, with a *CorruptError, the reads, cleanings and replays that reach
// it; Verify, which checks batch headers and checksums, not records,
// passes it, and so does Open, but in the internal topics it replays. The
// sizes and counts a batch states are checked against its bytes before
// they size an allocation (a snappy block's decoded size, the sizes of a
// zstd frame's blocks, record counts), but what its compressed records
// really decompress to is bounded only by the limit of one batch's read,
// 1 GiB (64 times the partition's max batch bytes when that is more), as a
// batch the log accepted may hold that much: zstd makes a gigabyte of 32
// KiB, and S2's extension of snappy, which reads take, of a few hundred
// bytes. A process reading a directory it does not trust should allow a
// read that much memory.
//
// A copying read (Partition.Read, Consumer.Poll, the typed consumer's
// Poll) makes a Record of 128 bytes for each record and a Header of 40 for
// each header, which take 7 and 2 bytes in a batch at the least: copied
// whole, a batch would cost 19 times what it decompresses to. It copies
// within a budget instead, of maxBytes or 64 MiB, whichever is more (see
// Partition.Read): a batch whose copies would pass it comes back in parts,
// the next read or Poll going on after the last record returned. A record
// of more than 26,843,545 headers (1 GiB of them) cannot be split: a
// copying read, Records and ReadToEnd fail on it with an error wrapping
// ErrRecordTooLarge that names the record; views, which do not copy
// headers, read it. Records and ReadToEnd clone views one record at a
// time. RecordView.Clone clones what it is given: check HeaderCount first
// on records you do not trust. Appends (Append, AppendBatch, a Producer, and
// so the Kafka listener's produce) refuse a batch whose records have more
// headers than take, at 40 bytes each, what the batch may decompress to
// (1,677,740 for the default MaxBatchBytes), so whatever the log
// acknowledges reads back.
//
// Codec state (gzip, lz4 and zstd coders) is pooled process-wide. A zstd coder
// holds channels, which under testing/synctest belong to the bubble that
// made them; the library tells a bubble by its clock (which starts in the
// year 2000) and does not pool the coders made there, so tests may use
// zstd topics inside bubbles and out.
//
// All file access goes through Options.FS. MemFS is an in-memory FS that can
// simulate power loss — unsynced data dropped, torn, zero-filled, or written
// back out of order page by page with directory changes kept or lost one by
// one (CrashReorder) — and inject I/O errors, for testing code built on the
// package. The package's own out-of-order power-loss test runs a bounded
// number of seeds; the long run is
//
//	EVENTLOG_REORDER_ITERATIONS=10000 go test -run '^TestPowerLossReorder$' -timeout 0 .
package eventlog
