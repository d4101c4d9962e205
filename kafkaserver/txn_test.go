package kafkaserver_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReadCommittedFetch serves the transactions of an in-process
// transactional Producer to kgo consumers: read_committed ones never see
// aborted records, nor those of a transaction still open, until it
// commits; read_uncommitted ones see every record.
func TestReadCommittedFetch(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	txp, err := f.log.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer txp.Close()
	plain, err := f.log.NewProducer(&eventlog.ProducerOptions{Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer plain.Close()
	send := func(p *eventlog.Producer, value string) int64 {
		md, err := p.Send(ctx, eventlog.Record{Topic: "t", Key: []byte("k"), Value: []byte(value)})
		require.NoError(t, err)
		return md.Offset
	}
	txn := func(commit bool, values ...string) (first int64) {
		require.NoError(t, txp.BeginTransaction())
		for i, v := range values {
			if off := send(txp, v); i == 0 {
				first = off
			}
		}
		if commit {
			require.NoError(t, txp.CommitTransaction(ctx))
		} else {
			require.NoError(t, txp.AbortTransaction(ctx))
		}
		return first
	}
	txn(true, "c1", "c2")
	abortedAt := txn(false, "a1", "a2")
	send(plain, "p1")
	txn(true, "c3")
	require.NoError(t, txp.BeginTransaction())
	openAt := send(txp, "o1")

	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	require.Equal(t, openAt, p.LastStableOffset())

	values := func(recs []*kgo.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
		return out
	}
	committed := f.client(t, kgo.ConsumeTopics("t"), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(50e6))
	assert.Equal(t, []string{"c1", "c2", "p1", "c3"}, values(consume(t, ctx, committed, 4)))
	uncommitted := f.client(t, kgo.ConsumeTopics("t"), kgo.FetchMaxWait(50e6))
	assert.Equal(t, []string{"c1", "c2", "a1", "a2", "p1", "c3", "o1"}, values(consume(t, ctx, uncommitted, 7)))

	// What the broker says, at every version: the last stable offset, and
	// the aborted transaction of the records served.
	var producerID int64 = -1
	batches := storedBatches(t, p, 0)
	for b := batches; len(b) > 0; b = b[12+binary.BigEndian.Uint32(b[8:]):] {
		if int64(binary.BigEndian.Uint64(b)) == abortedAt {
			producerID = int64(binary.BigEndian.Uint64(b[43:]))
		}
	}
	require.GreaterOrEqual(t, producerID, int64(0), "the aborted transaction's first batch")
	r := dialRaw(t, f.addr)
	for version := int16(4); version <= 12; version++ {
		req := fetchRequest(version, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
		req.IsolationLevel = 1
		resp := r.roundTrip(req).(*kmsg.FetchResponse)
		rp := resp.Topics[0].Partitions[0]
		require.Zero(t, rp.ErrorCode, "v%d", version)
		assert.Equal(t, openAt, rp.LastStableOffset, "v%d", version)
		assert.Equal(t, p.HighWatermark(), rp.HighWatermark, "v%d", version)
		require.Len(t, rp.AbortedTransactions, 1, "v%d", version)
		assert.Equal(t, producerID, rp.AbortedTransactions[0].ProducerID, "v%d", version)
		assert.Equal(t, abortedAt, rp.AbortedTransactions[0].FirstOffset, "v%d", version)
		assert.Equal(t, storedBatchesBelow(batches, openAt), rp.RecordBatches, "v%d: the batches below the last stable offset, as stored", version)

		// read_uncommitted: every batch, and the same last stable offset,
		// as Kafka reports it at either isolation level.
		req.IsolationLevel = 0
		resp = r.roundTrip(req).(*kmsg.FetchResponse)
		rp = resp.Topics[0].Partitions[0]
		require.Zero(t, rp.ErrorCode, "v%d read_uncommitted", version)
		assert.Equal(t, openAt, rp.LastStableOffset, "v%d read_uncommitted", version)
		assert.Equal(t, batches, rp.RecordBatches, "v%d read_uncommitted", version)

		list := kmsg.NewPtrListOffsetsRequest()
		listVersion := 2 + (version-4)%5 // 2 to 6: those with an isolation level the server has
		list.SetVersion(listVersion)
		list.ReplicaID, list.IsolationLevel = -1, 1
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "t"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp, lp.CurrentLeaderEpoch = -1, -1
		lt.Partitions = []kmsg.ListOffsetsRequestTopicPartition{lp}
		list.Topics = []kmsg.ListOffsetsRequestTopic{lt}
		lr := r.roundTrip(list).(*kmsg.ListOffsetsResponse)
		assert.Equal(t, openAt, lr.Topics[0].Partitions[0].Offset, "ListOffsets v%d read_committed latest", listVersion)
	}

	require.NoError(t, txp.CommitTransaction(ctx))
	assert.Equal(t, []string{"o1"}, values(consume(t, ctx, committed, 1)))
}

// storedBatchesBelow returns the whole batches of b that start below end.
func storedBatchesBelow(b []byte, end int64) []byte {
	n := 0
	for n < len(b) && int64(binary.BigEndian.Uint64(b[n:])) < end {
		n += 12 + int(binary.BigEndian.Uint32(b[n+8:]))
	}
	return b[:n]
}

// TestIdempotentProduce checks that the Log deduplicates a batch that an
// idempotent producer sends again, and refuses a sequence gap, whatever
// the client.
func TestIdempotentProduce(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	cl := f.client(t, kgo.DefaultProduceTopic("t"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("once")}).FirstErr())
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	stored := storedBatches(t, p, 0)
	require.Len(t, batchSizes(stored), 1)
	require.GreaterOrEqual(t, int64(binary.BigEndian.Uint64(stored[43:])), int64(0), "kgo's producer id from InitProducerId")

	produce := func(batch []byte) kmsg.ProduceResponseTopicPartition {
		return dialRaw(t, f.addr).produce("t", batch)
	}
	retry := append([]byte(nil), stored...)
	binary.BigEndian.PutUint64(retry, 0) // as a client sends it; the CRC does not cover it
	resp := produce(retry)
	assert.Zero(t, resp.ErrorCode)
	assert.Zero(t, resp.BaseOffset, "the retried batch is answered with the offset it was stored at")
	assert.EqualValues(t, 1, p.HighWatermark(), "and not stored twice")

	gap := append([]byte(nil), retry...)
	binary.BigEndian.PutUint32(gap[53:], 5) // base sequence 5 after 0
	binary.BigEndian.PutUint32(gap[17:], crc32.Checksum(gap[21:], crc32.MakeTable(crc32.Castagnoli)))
	resp = produce(gap)
	assert.Equal(t, kerr.OutOfOrderSequenceNumber.Code, resp.ErrorCode)
	assert.EqualValues(t, 1, p.HighWatermark())
}

// TestInitProducerIDIssuesNewIDs checks that InitProducerId without a
// transactional ID answers a producer ID never handed out before, in epoch
// 0, whatever ID and epoch the request names, as Kafka's broker does: a
// client can neither take over another producer's ID nor claim one not
// yet issued, which would fence the producer it is issued to next.
// Idempotent producers bump their epoch themselves (KIP-360).
func TestInitProducerIDIssuesNewIDs(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	initProducerID := func(id int64, epoch int16) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(4)
		req.ProducerID, req.ProducerEpoch = id, epoch
		return r.roundTrip(req).(*kmsg.InitProducerIDResponse)
	}
	first := initProducerID(-1, -1)
	require.Zero(t, first.ErrorCode)
	require.GreaterOrEqual(t, first.ProducerID, int64(0))
	require.Zero(t, first.ProducerEpoch)

	issued := map[int64]bool{first.ProducerID: true}
	for _, claim := range []struct {
		id    int64
		epoch int16
	}{
		{first.ProducerID, 0},     // another producer's, bumped
		{first.ProducerID, 41},    // another producer's, far ahead
		{first.ProducerID + 1, 0}, // not issued yet
		{first.ProducerID + 2, 5},
		{-1, -1}, // a new producer, after the claims
		{-1, -1},
	} {
		resp := initProducerID(claim.id, claim.epoch)
		require.Zero(t, resp.ErrorCode, "claiming %d/%d", claim.id, claim.epoch)
		assert.False(t, issued[resp.ProducerID], "claiming %d/%d answered producer ID %d, issued before", claim.id, claim.epoch, resp.ProducerID)
		assert.Zero(t, resp.ProducerEpoch, "claiming %d/%d", claim.id, claim.epoch)
		issued[resp.ProducerID] = true
	}

	// kgo's idempotent producer works as before.
	ctx := testContext(t)
	cl := f.client(t, kgo.DefaultProduceTopic("t"))
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("a")}, &kgo.Record{Value: []byte("b")}).FirstErr())
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	stored := storedBatches(t, p, 0)
	require.NotEmpty(t, stored)
	assert.False(t, issued[int64(binary.BigEndian.Uint64(stored[43:]))], "kgo got a producer ID of its own")
}

// TestInitProducerIDHalfAPair checks that InitProducerId naming a producer
// ID without an epoch, or an epoch without a producer ID, is refused with
// INVALID_REQUEST and issues no ID, as Kafka's broker refuses it before it
// asks its coordinator; a request without either (-1, -1), as before v3,
// gets a new ID.
func TestInitProducerIDHalfAPair(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	for _, tc := range []struct {
		version int16
		id      int64
		epoch   int16
		code    int16
	}{
		{4, 7, -1, kerr.InvalidRequest.Code},
		{3, 0, -1, kerr.InvalidRequest.Code},
		{4, -1, 0, kerr.InvalidRequest.Code},
		{4, -1, 3, kerr.InvalidRequest.Code},
		{4, -1, -1, 0},
		{2, -1, -1, 0}, // no ID or epoch fields: -1 and -1
	} {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(tc.version)
		req.ProducerID, req.ProducerEpoch = tc.id, tc.epoch
		resp := r.roundTrip(req).(*kmsg.InitProducerIDResponse)
		assert.Equal(t, tc.code, resp.ErrorCode, "v%d %d/%d: %v", tc.version, tc.id, tc.epoch, kerr.ErrorForCode(resp.ErrorCode))
		if tc.code != 0 {
			assert.Equal(t, int64(-1), resp.ProducerID, "v%d %d/%d", tc.version, tc.id, tc.epoch)
			assert.Equal(t, int16(-1), resp.ProducerEpoch, "v%d %d/%d", tc.version, tc.id, tc.epoch)
		} else {
			assert.GreaterOrEqual(t, resp.ProducerID, int64(0), "v%d %d/%d", tc.version, tc.id, tc.epoch)
		}
	}
}

// TestListOffsetsByTimeReadCommitted checks that a read_committed
// ListOffsets by timestamp finds only offsets below the last stable
// offset, as Kafka's does (those a read_committed consumer can fetch):
// the record of a transaction still open is not found (offset -1) until
// the transaction commits; a read_uncommitted one finds it.
func TestListOffsetsByTimeReadCommitted(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	txp, err := f.log.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer txp.Close()
	base := time.UnixMilli(1_700_000_000_000)
	send := func(at time.Duration) int64 {
		md, err := txp.Send(ctx, eventlog.Record{Topic: "t", Key: []byte("k"), Value: []byte("v"), Timestamp: base.Add(at)})
		require.NoError(t, err)
		return md.Offset
	}
	require.NoError(t, txp.BeginTransaction())
	send(0)
	require.NoError(t, txp.CommitTransaction(ctx))
	require.NoError(t, txp.BeginTransaction())
	openAt := send(time.Minute)

	cl := f.client(t)
	list := func(isolation int8) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.IsolationLevel = isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = base.Add(time.Second).UnixMilli()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		got := resp.Topics[0].Partitions[0]
		require.Zero(t, got.ErrorCode)
		return got
	}
	got := list(1)
	assert.EqualValues(t, -1, got.Offset, "read_committed: the open transaction's record is past the last stable offset")
	assert.EqualValues(t, -1, got.Timestamp)
	got = list(0)
	assert.Equal(t, openAt, got.Offset, "read_uncommitted")
	assert.Equal(t, base.Add(time.Minute).UnixMilli(), got.Timestamp)

	require.NoError(t, txp.CommitTransaction(ctx))
	got = list(1)
	assert.Equal(t, openAt, got.Offset, "read_committed, once committed")
	assert.Equal(t, base.Add(time.Minute).UnixMilli(), got.Timestamp)
}

// TestOffsetFetchRequireStable checks that OffsetFetch with require
// stable (v7+: Kafka's Java consumer sends it when read_committed, kgo with
// RequireStableFetchOffsets) answers UNSTABLE_OFFSET_COMMIT for a
// partition whose group has an offset commit in a transaction still open,
// as Kafka does, so that a consumer taking the partition over waits for
// the offset the transaction commits instead of starting from the one
// before and reading again what the transaction consumed; and the offset
// once the transaction commits. Without require stable, the committed
// offset is answered at once.
func TestOffsetFetchRequireStable(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"in": {Partitions: 2}, "out": {Partitions: 1}})
	ctx := testContext(t)
	in0 := eventlog.TopicPartition{Topic: "in", Partition: 0}
	require.NoError(t, f.log.CommitGroupOffsets(ctx, "g", map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in0: {Offset: 0}}))
	p0, err := f.log.Partition("in", 0)
	require.NoError(t, err)
	for range 5 {
		_, err := p0.Append(ctx, []eventlog.Record{{Value: []byte("v")}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	txp, err := f.log.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	defer txp.Close()
	require.NoError(t, txp.BeginTransaction())
	_, err = txp.Send(ctx, eventlog.Record{Topic: "out", Value: []byte("o")})
	require.NoError(t, err)
	require.NoError(t, txp.SendOffsetsToTransaction(ctx, map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{in0: {Offset: 5}},
		eventlog.GroupMetadata{GroupID: "g", GenerationID: -1}))

	cl := f.client(t)
	fetch := func(requireStable bool) map[int32]kmsg.OffsetFetchResponseGroupTopicPartition {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.RequireStable = requireStable
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = "g"
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = "in", []int32{0, 1}
		rg.Topics = append(rg.Topics, rt)
		req.Groups = append(req.Groups, rg)
		resp, err := req.RequestWith(ctx, cl)
		require.NoError(t, err)
		require.Len(t, resp.Groups, 1)
		require.Zero(t, resp.Groups[0].ErrorCode)
		out := map[int32]kmsg.OffsetFetchResponseGroupTopicPartition{}
		for _, rt := range resp.Groups[0].Topics {
			for _, rp := range rt.Partitions {
				out[rp.Partition] = rp
			}
		}
		return out
	}
	got := fetch(true)
	assert.Equal(t, kerr.UnstableOffsetCommit.Code, got[0].ErrorCode, "%v", kerr.ErrorForCode(got[0].ErrorCode))
	assert.EqualValues(t, -1, got[0].Offset)
	assert.Zero(t, got[1].ErrorCode, "no commit pending")
	assert.EqualValues(t, -1, got[1].Offset)
	got = fetch(false)
	assert.Zero(t, got[0].ErrorCode)
	assert.EqualValues(t, 0, got[0].Offset, "without require stable: the committed offset")
	v7 := kmsg.NewPtrOffsetFetchRequest()
	v7.SetVersion(7) // one group, not batched
	v7.Group, v7.RequireStable = "g", true
	v7t := kmsg.NewOffsetFetchRequestTopic()
	v7t.Topic, v7t.Partitions = "in", []int32{0}
	v7.Topics = append(v7.Topics, v7t)
	v7resp := dialRaw(t, f.addr).roundTrip(v7).(*kmsg.OffsetFetchResponse)
	require.Len(t, v7resp.Topics, 1)
	require.Len(t, v7resp.Topics[0].Partitions, 1)
	assert.Equal(t, kerr.UnstableOffsetCommit.Code, v7resp.Topics[0].Partitions[0].ErrorCode, "v7")

	// Every partition the group has an offset for (no topics named), as
	// kadm's FetchOffsets asks: the same answer.
	all := kmsg.NewPtrOffsetFetchRequest()
	all.RequireStable = true
	ag := kmsg.NewOffsetFetchRequestGroup()
	ag.Group = "g"
	all.Groups = append(all.Groups, ag)
	allResp, err := all.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.Len(t, allResp.Groups, 1)
	require.Len(t, allResp.Groups[0].Topics, 1)
	require.Len(t, allResp.Groups[0].Topics[0].Partitions, 1)
	unstable := allResp.Groups[0].Topics[0].Partitions[0]
	assert.Equal(t, kerr.UnstableOffsetCommit.Code, unstable.ErrorCode, "all partitions: %v", kerr.ErrorForCode(unstable.ErrorCode))
	assert.EqualValues(t, -1, unstable.Offset, "all partitions")

	require.NoError(t, txp.CommitTransaction(ctx))
	got = fetch(true)
	assert.Zero(t, got[0].ErrorCode)
	assert.EqualValues(t, 5, got[0].Offset)
}
