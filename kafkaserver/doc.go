// Package kafkaserver makes an eventlog.Log reachable by any Kafka client —
// franz-go, the Java client, librdkafka, kcat — for debugging, tooling and
// local development. A host process that embeds the Log starts a Server on
// a net.Listener; clients see a one-broker cluster whose topics, records
// and consumer groups are the Log's own.
//
//	l, err := eventlog.Open(dir, nil)
//	...
//	srv, err := kafkaserver.New(l, nil)
//	go srv.ListenAndServe("127.0.0.1:9092") // loopback unless AllowNonLoopback
//	...
//	srv.Close() // or Shutdown(ctx); then l.Close()
//
//	$ kcat -b 127.0.0.1:9092 -t orders -C
//
// # What it serves
//
// Fetch serves the stored RecordBatch bytes as they are, read in place
// from the segments' mappings (eventlog.Partition.ReadBatchesUnchecked) and
// written to the socket from there, with one writev per response: the
// server never copies them (over TLS they are copied once, into what TLS
// encrypts). A fetch reads on across segments, as much as its partition
// max bytes and max bytes allow, and never more than Options.FetchMaxBytes
// (Kafka's fetch.max.bytes, 55 MiB), which also stands for a max bytes of
// 0 or less; a partition the request names more than once is answered
// once, with what its last mention asks, as Kafka answers it. Produce
// stores the batch the client encoded, compression included, without
// re-encoding its records (eventlog.Partition.AppendBatch); of a partition
// it names more than once, only the last batch is stored, as in Kafka, and
// the earlier mentions are answered with INVALID_REQUEST (Kafka answers the
// partition once), so that a batch not stored never reads as stored; with
// acks=0 the connection is then closed. Records the
// library wrote and records a client produced are one and the same to both
// sides.
//
// Like a Kafka broker, Fetch does not check the CRCs of the batches it
// serves — checking would cost a pass over every byte — and leaves that to
// the consumer, which checks what it receives (check.crcs; franz-go and
// the Java client do by default): damage inside a batch reaches the
// client, which reports it as a fetch error. Damage to a batch's header
// (its length, offsets or magic) is still found, answered with
// KAFKA_STORAGE_ERROR (NOT_LEADER_OR_FOLLOWER to Fetch v4 and v5, whose
// clients need not know that code, as Kafka answers them) and logged,
// and the Log's own reads check every CRC. Options.CheckFetchCRCs makes
// Fetch check them too.
//
// Consumer groups are the Log's: a remote member joins the in-process
// coordinator as an eventlog.ExternalMember, so in-process Consumers and
// remote clients share a group and split its partitions. The coordinator
// computes every assignment with the library's assignor for the group's
// protocol (range, roundrobin, sticky, cooperative-sticky) and is the
// group's leader: every remote member is a follower that receives its
// assignment in SyncGroup. groups.go describes the protocol in full. The
// Log expires the committed offsets of groups nobody consumes with, as a
// broker does (eventlog.Options.OffsetsRetention, Kafka's
// offsets.retention.minutes): OffsetFetch then answers -1 for them,
// ListGroups omits a group that died, and DescribeGroups describes it as
// Dead.
//
// Produce acks map to the log's durability: acks=-1 (all) answers once the
// batch is as durable as its topic promises — fsynced on a DurabilityFsync
// topic, the default; acks=1 once it is written to the operating system
// (it survives the process crashing, and on a fsync topic becomes
// readable after the Log's background fsync); acks=0 does as acks=1 and
// sends no answer, closing the connection when a batch fails, as Kafka
// does.
//
// # APIs and versions
//
// ApiVersions advertises exactly these. A request of another API or
// version closes the connection, as Kafka's broker closes it; only
// ApiVersions itself, in a version it does not serve, is answered, in v0,
// with UNSUPPORTED_VERSION and its versions (KIP-511).
//
//	API               key  versions  notes
//	Produce             0  3-11      RecordBatch v2 (zstd from v7); no transactions
//	Fetch               1  4-12      no fetch sessions (session ID 0: full fetches)
//	ListOffsets         2  1-6       earliest, latest, by timestamp; -3 and below: UNSUPPORTED_VERSION
//	Metadata            3  1-12      one broker; topic IDs are zero
//	OffsetCommit        8  2-8
//	OffsetFetch         9  1-8
//	FindCoordinator    10  0-4       group coordinators only
//	JoinGroup          11  0-9       protocol type "consumer"
//	Heartbeat          12  0-4
//	LeaveGroup         13  0-5
//	SyncGroup          14  0-5
//	DescribeGroups     15  0-5
//	ListGroups         16  0-4
//	SaslHandshake      17  1         PLAIN; advertised only with Options.SASLPlain
//	ApiVersions        18  0-5
//	CreateTopics       19  0-6
//	DeleteTopics       20  0-5       by name
//	DeleteRecords      21  0-2
//	InitProducerId     22  0-4       idempotent producers; no transactional IDs
//	DescribeConfigs    32  0-4       topics and this broker
//	AlterConfigs       33  0-2       topics
//	SaslAuthenticate   36  0-2
//	CreatePartitions   37  0-3
//	DeleteGroups       42  0-2
//	IncrementalAlterConfigs 44  0-1  topics; APPEND and SUBTRACT for cleanup.policy
//
// # Differences from a Kafka broker
//
//   - One broker, no replication: replication factor 1 (or -1) only,
//     leader epoch 0, no OffsetForLeaderEpoch, no rack-aware fetching.
//   - No fetch sessions (KIP-227): every fetch is a full one, answered
//     with session ID 0 (none created); an incremental one (session epoch
//     1 or more) answers FETCH_SESSION_ID_NOT_FOUND. A fetch
//     does not stop at the end of a segment, as Kafka's does. No
//     transactions for clients: transactional produces, transactional
//     InitProducerId and transaction coordinators answer
//     UNSUPPORTED_FOR_MESSAGE_FORMAT (the code Kafka gave for brokers
//     without transactions). The transactions of the host process's own
//     transactional Producers are served as Kafka serves them: a
//     read_committed fetch stops at the last stable offset and lists the
//     aborted transactions of what it returns, which the client skips, and
//     a read_committed ListOffsets answers the last stable offset as the
//     latest, and by time finds only offsets below it. An OffsetFetch
//     that requires stable offsets is answered UNSTABLE_OFFSET_COMMIT for
//     a partition whose group has offsets in a transaction still open.
//   - Idempotent producers get producer IDs from the Log
//     (Log.NewProducerID: durable, never handed out twice): every
//     InitProducerId gets a new one in epoch 0, as in Kafka, whatever ID
//     and epoch it names (producers bump their epochs themselves,
//     KIP-360); one naming an ID without an epoch, or an epoch without
//     an ID, is refused with INVALID_REQUEST, as Kafka refuses it. The Log checks their sequence numbers as Kafka's broker
//     does: a retried batch is answered with the offset it was stored
//     at, not stored twice; a gap answers OUT_OF_ORDER_SEQUENCE_NUMBER,
//     an old epoch INVALID_PRODUCER_EPOCH.
//   - No topic IDs (Fetch v13+, Produce v13+, Metadata topic IDs are zero;
//     a Metadata v12 naming topics by ID is answered UNKNOWN_TOPIC_ID),
//     no ACLs: an authenticated client may do anything, and Metadata and DescribeGroups answer one that
//     asks for its authorized operations with every operation of the
//     resource's type, as a broker without an authorizer. Internal topics such as __consumer_offsets are not
//     listed in Metadata, and clients cannot write them.
//   - A Log opened read-only (eventlog.Options.ReadOnly) is served for
//     reading; every request that would write to it (Produce,
//     InitProducerId, CreateTopics, DeleteTopics, CreatePartitions,
//     AlterConfigs, IncrementalAlterConfigs, DeleteRecords, OffsetCommit,
//     ...) is answered POLICY_VIOLATION, as Kafka answers a request its
//     configured policy refuses, which clients do not retry.
//   - Topics are not created automatically unless Options.AutoCreateTopics
//     (Kafka's auto.create.topics.enable defaults to true). CreateTopics
//     takes cleanup.policy, retention.ms, retention.bytes, segment.bytes,
//     segment.ms, max.message.bytes, delete.retention.ms,
//     min.compaction.lag.ms, max.compaction.lag.ms, min.cleanable.dirty.ratio
//     and flush.messages (1: DurabilityFsync, more: DurabilityOS), and
//     message.timestamp.type, compression.type and min.insync.replicas at
//     the one value the Log honours (CreateTime, producer, 1); others are
//     refused with INVALID_CONFIG, as are values below Kafka's minimum of
//     each. Milliseconds beyond what a time.Duration holds (292 years; Kafka
//     takes up to Long.MAX_VALUE) mean as long as can be, and no limit for
//     retention.ms and max.compaction.lag.ms. A 0 for retention.ms,
//     retention.bytes or delete.retention.ms becomes 1 ms or 1 byte, which
//     keeps as little as Kafka's 0 does, and a 0 for
//     min.cleanable.dirty.ratio the smallest positive ratio, which cleans
//     at any dirt as Kafka's 0 does, rather than the Log's default
//     (CreateTopics and DescribeConfigs answer that ratio as 0).
//     From v5 CreateTopics answers with every config of the topic, as
//     Kafka does, with its source as DescribeConfigs gives it.
//   - DescribeConfigs, AlterConfigs and IncrementalAlterConfigs read and
//     change a topic's settings by the names CreateTopics takes, through
//     eventlog.Log.UpdateTopicConfig (ValidateAlterTopicConfig for
//     validate-only). DescribeConfigs lists every setting of a topic, as
//     Kafka does: the topic's own (DYNAMIC_TOPIC_CONFIG, with the
//     broker-wide value they override as a synonym), and for the others
//     the broker-wide value, eventlog.Log.DefaultTopicSettings, which is
//     the Log's Options where they set one (STATIC_BROKER_CONFIG, Kafka's
//     server.properties: Options.SegmentBytes is log.segment.bytes) and
//     the library's default otherwise (DEFAULT_CONFIG). The Log's defaults
//     differ from Kafka's where eventlog's do: retention.ms is -1 (keep
//     everything) and flush.messages 1 (fsync every append) unless the
//     Options say otherwise. max.message.bytes is read-only: the Log
//     cannot alter it (setting it to the value in effect changes
//     nothing), and AlterConfigs, which otherwise puts the settings it
//     does not name back to their defaults, leaves it as it is. A switch
//     to compaction of a topic holding a record without a key is refused
//     with INVALID_CONFIG (the Log's cleaner would drop it). Each alteration
//     reads and writes the topic's settings with no other change of the
//     topic in between, a client's or one made in process, so that
//     concurrent ones of different settings all apply. The broker's
//     settings are the Server's Options and the broker-wide topic
//     settings, all read-only: altering them answers INVALID_REQUEST, as Kafka
//     answers a setting it cannot update dynamically; the empty broker
//     name (the cluster's dynamic defaults) describes none. Other
//     resource types (BROKER_LOGGER, GROUP, CLIENT_METRICS) answer
//     INVALID_REQUEST.
//   - Produced batches must use CreateTime; the broker corrects a wrong
//     max timestamp as Kafka does. A compacted topic refuses keyless records
//     with INVALID_RECORD, as Kafka does.
//   - A produced batch whose records have more headers in all than the Log
//     takes of one batch (1,677,740 for the default max.message.bytes; see
//     eventlog.Partition.Append), which Kafka takes, is refused with
//     MESSAGE_TOO_LARGE and not stored: a copying read makes a 40-byte
//     Header of each header, 2 bytes in the batch when empty, so a small
//     zstd batch could make a consumer in the host process allocate
//     gigabytes. MESSAGE_TOO_LARGE, as for a batch that decompresses past
//     the Log's limit, rather than CORRUPT_MESSAGE (the bytes are sound) or
//     INVALID_RECORD (no record breaks a rule of Kafka's; the batch exceeds
//     a size this server takes): the Java producer answers it for a batch
//     of several records by sending the batch again split in two, which
//     stores records whose headers are each within the limit.
//   - OffsetCommit takes offsets between 0 and the high watermark only
//     (Kafka takes any): a partition with another is answered
//     OFFSET_OUT_OF_RANGE, and the others of the request are committed.
//     It takes them from a group member only for partitions it holds
//     (others answer ILLEGAL_GENERATION); a commit of generation -1 is
//     taken, whatever member ID it names, only while the group has no
//     members (else UNKNOWN_MEMBER_ID, or ILLEGAL_GENERATION from a
//     member, as in Kafka). A commit for the empty group ID,
//     which Kafka takes, answers INVALID_GROUP_ID. A JoinGroup of a new
//     member answers without the MEMBER_ID_REQUIRED round trip; a new
//     (dynamic) member whose client goes away before that answer leaves
//     the group, as it never learned its member ID. Under the
//     cooperative protocol, partitions freed by other members reach a
//     remote member at its next heartbeat, not in the same round.
//   - DescribeGroups shows in-process members with client ID "in-process".
//     Groups have only the "consumer" protocol type. LeaveGroup removes
//     only members that joined through this Server: naming another (an
//     in-process Consumer, by member ID or group instance ID, as admin
//     tools remove static members) answers UNKNOWN_MEMBER_ID, where Kafka
//     removes it.
//   - SASL/PLAIN only (SaslHandshake v1 framing); no SCRAM, GSSAPI or
//     OAUTHBEARER. TLS through crypto/tls, mutual TLS through its
//     ClientAuth.
//
// # Connections and their cost
//
// A client costs the server what it sends and what it asks for, for as
// long as it is connected, and no more:
//
//   - A request is read into a buffer that grows as its bytes arrive, not
//     to the size the request claims; a buffer larger than 16 MiB is let
//     go as soon as its request is answered. A request larger than
//     Options.MaxRequestBytes (socket.request.max.bytes, 100 MiB) closes
//     the connection, and so does one larger than 512 KiB before the
//     connection has authenticated with SASL, as in Kafka
//     (sasl.server.max.receive.size).
//   - A connection that sends no request for Options.IdleTimeout
//     (connections.max.idle.ms, 10 minutes), or takes longer than that to
//     send the rest of a request it began, is closed. A request being
//     handled does not count as idle: a fetch may wait as long as its max
//     wait says.
//   - A request that waits — a fetch for min bytes, a JoinGroup for a
//     rebalance — ends when its client closes the connection, as in
//     Kafka; unless the client sent another request behind it, which the
//     server reads only once it has answered the first.
//   - A client that takes longer than Options.WriteTimeout (30 seconds)
//     to read a response is disconnected, and the response lets go of
//     its segments.
//   - A remote group member, and the subscription it sent, user data
//     included, is forgotten once it leaves its group, whichever way:
//     at once for LeaveGroup and for a static member replaced by one with
//     its instance ID, within a second for one evicted when its session
//     timed out.
//
// # Concurrency and lifetime
//
// Each connection is served by one goroutine owned by the Server, which
// answers pipelined requests in order; while a request waits, a second
// one watches for the client to close the connection. From the first
// JoinGroup on, one more looks for remote members gone from their groups.
// A fetch waiting for min bytes holds no mapping while it waits, and
// releases what it read once its response is written or given up (the
// connection closed, or Options.WriteTimeout passed): until then the
// segments it reads stay mapped, and their files on disk, whatever
// retention, DeleteRecords or DeleteTopic do to the partition meanwhile.
// Close and Shutdown stop accepting, end every connection and wait for
// every goroutine of the Server; the remote members of its clients leave
// their groups. The Server does not own the Log: close the Server first,
// then the Log. A Log closed under a running Server fails the fetches and
// produces that follow with KAFKA_STORAGE_ERROR, which the Server logs
// once.
package kafkaserver
