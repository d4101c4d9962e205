package kafkaserver_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn speaks the protocol by hand, to send what clients would not.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(testTimeout)))
	return &rawConn{t: t, c: c}
}

// send frames req at its version.
func (r *rawConn) send(req kmsg.Request) {
	r.t.Helper()
	r.corr++
	r.sendBytes(appendRequestFrame(nil, req.Key(), req.GetVersion(), r.corr, requestBody(req)))
}

// requestBody is what follows the client ID in req's frame: the header's
// tagged fields if its version has them (none), then req.
func requestBody(req kmsg.Request) []byte {
	var b []byte
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// appendRequestFrame appends a request frame: its size, the header up to
// the client ID, and body, which holds the header's tagged fields if the
// version has them.
func appendRequestFrame(b []byte, key, version int16, correlation int32, body []byte) []byte {
	size := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlation))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	b = append(b, body...)
	binary.BigEndian.PutUint32(b[size:], uint32(len(b)-size-4))
	return b
}

func (r *rawConn) sendBytes(b []byte) {
	r.t.Helper()
	_, err := r.c.Write(b)
	require.NoError(r.t, err)
}

// receive reads the response to the last request into resp.
func (r *rawConn) receive(resp kmsg.Response) {
	r.t.Helper()
	r.receiveBody(r.receiveSize(), resp)
}

// receiveSize reads the size of the next response.
func (r *rawConn) receiveSize() uint32 {
	r.t.Helper()
	var size [4]byte
	_, err := io.ReadFull(r.c, size[:])
	require.NoError(r.t, err)
	return binary.BigEndian.Uint32(size[:])
}

// receiveBody reads the rest of a response of size bytes into resp.
func (r *rawConn) receiveBody(size uint32, resp kmsg.Response) {
	r.t.Helper()
	body := make([]byte, size)
	_, err := io.ReadFull(r.c, body)
	require.NoError(r.t, err)
	require.Equal(r.t, r.corr, int32(binary.BigEndian.Uint32(body)))
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		require.Equal(r.t, byte(0), body[0], "header tags")
		body = body[1:]
	}
	require.NoError(r.t, resp.ReadFrom(body))
}

// roundTrip sends req and reads its response.
func (r *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.send(req)
	resp := req.ResponseKind()
	r.receive(resp)
	return resp
}

// closed checks that the server closed the connection.
// produce sends one Produce request (v9, acks all) of records to
// partition 0 of topic and returns that partition's answer.
func (r *rawConn) produce(topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = -1
	tp := kmsg.NewProduceRequestTopicPartition()
	tp.Records = records
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.Partitions = topic, []kmsg.ProduceRequestTopicPartition{tp}
	req.Topics = append(req.Topics, rt)
	return r.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func (r *rawConn) closed() {
	r.t.Helper()
	_, err := r.c.Read(make([]byte, 1))
	require.True(r.t, errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err), "read after a refused request: %v", err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func TestApiVersions(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1.0"
	resp := r.roundTrip(req).(*kmsg.ApiVersionsResponse)
	require.Zero(t, resp.ErrorCode)
	versions := map[int16][2]int16{}
	for _, k := range resp.ApiKeys {
		versions[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	assert.Equal(t, [2]int16{4, 12}, versions[1], "fetch")
	assert.Equal(t, [2]int16{3, 11}, versions[0], "produce")
	assert.NotContains(t, versions, int16(17), "no SASL without Options.SASLPlain")

	// A version the server does not know: answered in v0 with
	// UNSUPPORTED_VERSION and the supported versions (KIP-511).
	b := []byte{0, 0, 0, 0, 0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'x'}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	r.sendBytes(b)
	r.corr = 7
	old := kmsg.NewPtrApiVersionsResponse()
	old.SetVersion(0)
	r.receive(old)
	assert.Equal(t, kerr.UnsupportedVersion.Code, old.ErrorCode)
	// Only ApiVersions' own versions, as Kafka's broker lists them.
	require.Len(t, old.ApiKeys, 1)
	assert.Equal(t, [3]int16{18, 0, 5}, [3]int16{old.ApiKeys[0].ApiKey, old.ApiKeys[0].MinVersion, old.ApiKeys[0].MaxVersion})

	// A negative version is no version either.
	b = []byte{0, 0, 0, 0, 0, 18, 0xff, 0xff, 0, 0, 0, 8, 0, 1, 'x'}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	r.sendBytes(b)
	r.corr = 8
	negative := kmsg.NewPtrApiVersionsResponse()
	negative.SetVersion(0)
	r.receive(negative)
	assert.Equal(t, kerr.UnsupportedVersion.Code, negative.ErrorCode, "version -1")
	assert.Len(t, negative.ApiKeys, 1, "version -1")
}

// TestApiVersionsClientSoftware checks that an ApiVersions v3+ whose
// client software name or version is not of Kafka's form
// ([a-zA-Z0-9], then [a-zA-Z0-9.-], ending in [a-zA-Z0-9]) is answered
// INVALID_REQUEST with no APIs, as Kafka's broker answers it.
func TestApiVersionsClientSoftware(t *testing.T) {
	f := newFixture(t, nil)
	r := dialRaw(t, f.addr)
	for _, tc := range []struct {
		name, version string
		valid         bool
	}{
		{"apache-kafka-java", "3.9.0", true},
		{"kgo", "v1.22.3", true},
		{"a", "1", true},
		{"", "1.0", false},
		{"kgo", "", false},
		{"my client", "1.0", false},
		{"kgo", "(devel)", false},
		{"-kgo", "1.0", false},
		{"kgo", "1.0.", false},
	} {
		for _, v := range []int16{3, 4} {
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(v)
			req.ClientSoftwareName, req.ClientSoftwareVersion = tc.name, tc.version
			resp := r.roundTrip(req).(*kmsg.ApiVersionsResponse)
			if tc.valid {
				assert.Zero(t, resp.ErrorCode, "v%d %q %q", v, tc.name, tc.version)
				assert.NotEmpty(t, resp.ApiKeys, "v%d %q %q", v, tc.name, tc.version)
			} else {
				assert.Equal(t, kerr.InvalidRequest.Code, resp.ErrorCode, "v%d %q %q", v, tc.name, tc.version)
				assert.Empty(t, resp.ApiKeys, "v%d %q %q", v, tc.name, tc.version)
			}
		}
	}
	// Before v3 there are no such fields.
	old := kmsg.NewPtrApiVersionsRequest()
	old.SetVersion(2)
	assert.Zero(t, r.roundTrip(old).(*kmsg.ApiVersionsResponse).ErrorCode, "v2")
}

func TestMalformedRequests(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	for name, b := range map[string][]byte{
		"oversized":    binary.BigEndian.AppendUint32(nil, 200<<20),
		"negative":     binary.BigEndian.AppendUint32(nil, 0xFFFFFFF0),
		"short header": frame([]byte{0, 3, 0}),
		"unknown key":  frame([]byte{0x7f, 0, 0, 0, 0, 0, 0, 1, 0, 0}),
		"bad version":  frame([]byte{0, 3, 0x7f, 0, 0, 0, 0, 1, 0, 0}),
		"cut body":     frame([]byte{0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff}),
	} {
		t.Run(name, func(t *testing.T) {
			r := dialRaw(t, f.addr)
			r.sendBytes(b)
			r.closed()
		})
	}
	// Kafka's broker fails the parse of a request of a version it does
	// not serve, of any API but ApiVersions, and closes the connection
	// (SocketServer's parseRequestHeader), whether or not the response
	// has an error code: the client was told the versions served.
	for _, c := range []struct {
		req       kmsg.Request
		version   int16
		errorCode string // whether the response has an error code in that version
	}{
		{kmsg.NewPtrListGroupsRequest(), 5, "with"},      // served up to v4
		{kmsg.NewPtrSASLHandshakeRequest(), 0, "with"},   // served in v1 only
		{kmsg.NewPtrDescribeClusterRequest(), 0, "with"}, // not served
		// The response has an error code, but not in these versions.
		{fetchRequest(3, "t", map[int32]int64{0: 0}, 1<<20, 1<<20), 3, "without"}, // served from v4
		{kmsg.NewPtrFindCoordinatorRequest(), 5, "without"},                       // served up to v4
		{kmsg.NewPtrOffsetFetchRequest(), 0, "without"},                           // served from v1
	} {
		c.req.SetVersion(c.version)
		t.Run(fmt.Sprintf("unsupported %s v%d %s an error code", kmsg.NameForKey(c.req.Key()), c.version, c.errorCode), func(t *testing.T) {
			r := dialRaw(t, f.addr)
			r.send(c.req)
			r.closed()
		})
	}
	t.Run("unsupported API without an error code", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.SetVersion(2)
		r.send(req)
		r.closed()
	})
	t.Run("corrupt batch", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		batch := kmsg.RecordBatch{Magic: 2, LastOffsetDelta: 0, NumRecords: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
		rec := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
		batch.Records = rec.AppendTo(nil)
		raw := batch.AppendTo(nil)
		binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
		raw[len(raw)-1] ^= 0xff // the CRC (zero here anyway) cannot match
		resp := r.produce("t", raw)
		assert.Equal(t, kerr.CorruptMessage.Code, resp.ErrorCode)
		require.NotNil(t, resp.ErrorMessage)
		p, err := f.log.Partition("t", 0)
		require.NoError(t, err)
		assert.Zero(t, p.LogEndOffset(), "nothing stored")
	})
	// The server goes on serving.
	ctx := testContext(t)
	cl := f.client(t, kgo.DefaultProduceTopic("t"))
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("still here")}).FirstErr())
}

func TestFetchLimitsAndWaits(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	ctx := testContext(t)
	p0, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	for i := range 10 {
		_, err := p0.Append(ctx, []eventlog.Record{{Value: make([]byte, 1000), Key: []byte{byte(i)}}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	fetch := func(offset int64, partMax, maxBytes, minBytes, waitMs int32) *kmsg.FetchResponse {
		r := dialRaw(t, f.addr)
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(12)
		req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, maxBytes, minBytes, waitMs
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		for id := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = id, offset, partMax, -1
			if id == 1 {
				rp.FetchOffset = 0
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = []kmsg.FetchRequestTopic{rt}
		return r.roundTrip(req).(*kmsg.FetchResponse)
	}
	batches := func(b []byte) int {
		n := 0
		for len(b) >= 12 {
			b = b[12+binary.BigEndian.Uint32(b[8:]):]
			n++
		}
		return n
	}

	resp := fetch(0, 1<<20, 50<<20, 1, 0)
	part := resp.Topics[0].Partitions[0]
	assert.EqualValues(t, 10, part.HighWatermark)
	assert.EqualValues(t, 0, part.LogStartOffset)
	assert.Equal(t, 10, batches(part.RecordBatches))

	// Partition max bytes: whole batches only, but at least one.
	assert.Equal(t, 2, batches(fetch(0, 2500, 50<<20, 1, 0).Topics[0].Partitions[0].RecordBatches))
	assert.Equal(t, 1, batches(fetch(0, 10, 50<<20, 1, 0).Topics[0].Partitions[0].RecordBatches))
	// Response max bytes.
	assert.Equal(t, 3, batches(fetch(0, 1<<20, 3500, 1, 0).Topics[0].Partitions[0].RecordBatches))
	// From the middle: the batch holding the offset.
	mid := fetch(5, 1<<20, 50<<20, 1, 0).Topics[0].Partitions[0].RecordBatches
	require.Equal(t, 5, batches(mid))
	assert.EqualValues(t, 5, binary.BigEndian.Uint64(mid))
	// Out of range.
	assert.Equal(t, kerr.OffsetOutOfRange.Code, fetch(11, 1<<20, 50<<20, 1, 0).Topics[0].Partitions[0].ErrorCode)

	// Min bytes: a fetch at the end waits for its max wait, then answers
	// empty...
	start := time.Now()
	empty := fetch(10, 1<<20, 50<<20, 1, 100)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	assert.Empty(t, empty.Topics[0].Partitions[0].RecordBatches)

	// ...and one waiting when records arrive answers with them at once.
	p1, err := f.log.Partition("t", 1)
	require.NoError(t, err)
	done := make(chan *kmsg.FetchResponse, 1)
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, 1<<20, 1, int32(testTimeout/time.Millisecond)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 1, 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = []kmsg.FetchRequestTopic{rt}
	r.send(req)
	go func() {
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(11)
		r.receive(resp)
		done <- resp
	}()
	_, err = p1.Append(ctx, []eventlog.Record{{Value: []byte("wake up")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	select {
	case resp := <-done:
		assert.Equal(t, 1, batches(resp.Topics[0].Partitions[0].RecordBatches))
	case <-ctx.Done():
		t.Fatal("a waiting fetch was not woken by an append")
	}
}

func TestListOffsetsByTime(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	cl := f.client(t, kgo.DefaultProduceTopic("t"))
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 100 {
		require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)}).FirstErr())
	}
	adm := kadm.NewClient(cl)
	at, err := adm.ListOffsetsAfterMilli(ctx, base.Add(50*time.Second).UnixMilli()-1, "t")
	require.NoError(t, err)
	o, ok := at.Lookup("t", 0)
	require.True(t, ok)
	require.NoError(t, o.Err)
	assert.EqualValues(t, 50, o.Offset)
	assert.Equal(t, base.Add(50*time.Second).UnixMilli(), o.Timestamp)

	end, err := adm.ListEndOffsets(ctx, "t")
	require.NoError(t, err)
	o, _ = end.Lookup("t", 0)
	assert.EqualValues(t, 100, o.Offset)
	startOffsets, err := adm.ListStartOffsets(ctx, "t")
	require.NoError(t, err)
	o, _ = startOffsets.Lookup("t", 0)
	assert.EqualValues(t, 0, o.Offset)

	// A consumer starting at a time.
	cons := f.client(t, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(base.Add(90*time.Second).UnixMilli())))
	got := consume(t, ctx, cons, 10)
	assert.EqualValues(t, 90, got[0].Offset)
}

// TestListOffsetsByTimeCopiesNoHeaders: ListOffsets by time copied the
// found record's whole batch (Partition.Read) for its timestamp, and so
// did the search for it (Partition.OffsetForTime), making a 40-byte Header
// of each header: a request for a batch of 1.6 million empty headers
// allocated 138 MB. Both read the timestamps in place now.
func TestListOffsetsByTimeCopiesNoHeaders(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	at := time.UnixMilli(1_700_000_000_000)
	_, err = p.Append(ctx, []eventlog.Record{{Timestamp: at, Headers: make([]eventlog.Header, 1_600_000)}}, eventlog.AppendOptions{Compression: eventlog.CompressionZstd})
	require.NoError(t, err)
	adm := kadm.NewClient(f.client(t))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	offsets, err := adm.ListOffsetsAfterMilli(ctx, at.UnixMilli(), "t")
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	o, ok := offsets.Lookup("t", 0)
	require.True(t, ok)
	require.NoError(t, o.Err)
	assert.EqualValues(t, 0, o.Offset)
	assert.Equal(t, at.UnixMilli(), o.Timestamp)
	t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "bytes allocated")
}

// TestListOffsetsSpecialTimestamps checks the answers to the special
// timestamps of ListOffsets: latest (-1) and earliest (-2) are answered;
// those of versions not served — max timestamp (-3, v7), earliest local
// (-4, v8), latest tiered (-5, v9), earliest pending upload (-6, v11) —
// and other negative timestamps are answered UNSUPPORTED_VERSION, as
// Kafka's broker answers them; 0 is a time, before every record.
func TestListOffsetsSpecialTimestamps(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	ctx := testContext(t)
	p, err := f.log.Partition("t", 0)
	require.NoError(t, err)
	base := time.UnixMilli(1_700_000_000_000)
	for i := range 10 {
		_, err := p.Append(ctx, []eventlog.Record{{Value: []byte("v"), Timestamp: base.Add(time.Duration(i) * time.Second)}}, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	_, err = f.log.DeleteRecords(ctx, "t", 0, 3)
	require.NoError(t, err)

	r := dialRaw(t, f.addr)
	for _, tc := range []struct {
		timestamp int64
		code      int16
		offset    int64
		at        int64 // the answer's timestamp
	}{
		{-1, 0, 10, -1},
		{-2, 0, 3, -1},
		// Those of later versions (max timestamp v7, earliest local
		// v8, latest tiered v9, earliest pending upload v11) and
		// other negative ones, as Kafka's broker answers them.
		{-3, kerr.UnsupportedVersion.Code, -1, -1},
		{-4, kerr.UnsupportedVersion.Code, -1, -1},
		{-5, kerr.UnsupportedVersion.Code, -1, -1},
		{-6, kerr.UnsupportedVersion.Code, -1, -1},
		{-7, kerr.UnsupportedVersion.Code, -1, -1},
		{math.MinInt64, kerr.UnsupportedVersion.Code, -1, -1},
		{0, 0, 3, base.Add(3 * time.Second).UnixMilli()},
		{base.Add(5 * time.Second).UnixMilli(), 0, 5, base.Add(5 * time.Second).UnixMilli()},
		{base.Add(time.Hour).UnixMilli(), 0, -1, -1}, // after every record: none
	} {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(6)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = 0, tc.timestamp
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		got := r.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		assert.Equal(t, tc.code, got.ErrorCode, "timestamp %d", tc.timestamp)
		assert.Equal(t, tc.offset, got.Offset, "timestamp %d", tc.timestamp)
		assert.Equal(t, tc.at, got.Timestamp, "timestamp %d", tc.timestamp)
		// An answer without an offset has no leader epoch either (-1),
		// as Kafka's broker answers it; one with has the log's, 0.
		wantEpoch := int32(0)
		if tc.offset == -1 {
			wantEpoch = -1
		}
		assert.Equal(t, wantEpoch, got.LeaderEpoch, "timestamp %d", tc.timestamp)
	}
}

// TestListOffsetsNameAPartitionTwice checks that a partition named twice
// in one ListOffsets request gets one answer, INVALID_REQUEST, as Kafka's
// broker answers it; the request's other partitions are answered.
func TestListOffsetsNameAPartitionTwice(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 2}})
	r := dialRaw(t, f.addr)
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(6)
	req.ReplicaID = -1
	for _, p := range []int32{0, 1, 0} {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := r.roundTrip(req).(*kmsg.ListOffsetsResponse)
	codes := map[int32][]int16{}
	for _, rt := range resp.Topics {
		require.Equal(t, "t", rt.Topic)
		for _, rp := range rt.Partitions {
			codes[rp.Partition] = append(codes[rp.Partition], rp.ErrorCode)
			if rp.ErrorCode != 0 {
				assert.Equal(t, int64(-1), rp.Offset, "partition %d", rp.Partition)
			}
		}
	}
	assert.Equal(t, map[int32][]int16{0: {kerr.InvalidRequest.Code}, 1: {0}}, codes)
}

// TestMetadataInvalidTopicNames checks that Metadata answers a name that
// cannot be a topic's with INVALID_TOPIC_EXCEPTION, as Kafka does, and a
// valid one of no topic with UNKNOWN_TOPIC_OR_PARTITION, with topic
// creation allowed or not.
func TestMetadataInvalidTopicNames(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	invalid := []string{"", "a/b", ".", "..", "a b", "é", strings.Repeat("a", 250)}
	for _, auto := range []bool{false, true} {
		f := serve(t, l, &kafkaserver.Options{AutoCreateTopics: auto})
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		req.AllowAutoTopicCreation = auto
		for _, name := range append([]string{"t", "missing." + strconv.FormatBool(auto)}, invalid...) {
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = ptr(name)
			req.Topics = append(req.Topics, rt)
		}
		resp := dialRaw(t, f.addr).roundTrip(req).(*kmsg.MetadataResponse)
		codes := map[string]int16{}
		for _, rt := range resp.Topics {
			require.NotNil(t, rt.Topic)
			codes[*rt.Topic] = rt.ErrorCode
		}
		assert.Zero(t, codes["t"], "auto create %v", auto)
		missing := kerr.UnknownTopicOrPartition.Code
		if auto {
			missing = 0 // created
		}
		assert.Equal(t, missing, codes["missing."+strconv.FormatBool(auto)], "auto create %v", auto)
		for _, name := range invalid {
			assert.Equal(t, kerr.InvalidTopicException.Code, codes[name], "auto create %v: %q", auto, name)
		}
	}
	assert.Equal(t, []string{"missing.true", "t"}, l.Topics())
}

func TestTopicAdministration(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	created, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"cleanup.policy": ptr("compact"), "retention.ms": ptr("-1")}, "made")
	require.NoError(t, err)
	require.NoError(t, created.Err)
	cfg, err := f.log.TopicConfig("made")
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Partitions)
	assert.Equal(t, eventlog.CleanupCompact, cfg.CleanupPolicy)

	_, err = adm.CreateTopic(ctx, 1, 1, nil, "made")
	assert.ErrorIs(t, err, kerr.TopicAlreadyExists)
	_, err = adm.CreateTopic(ctx, 1, 3, nil, "replicated")
	assert.ErrorIs(t, err, kerr.InvalidReplicationFactor)
	_, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.setting": ptr("1")}, "odd")
	assert.ErrorIs(t, err, kerr.InvalidConfig)

	grown, err := adm.CreatePartitions(ctx, 2, "made")
	require.NoError(t, err)
	require.NoError(t, grown.Error())
	cfg, err = f.log.TopicConfig("made")
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.Partitions)

	topics, err := adm.ListTopics(ctx)
	require.NoError(t, err)
	assert.True(t, topics.Has("made"))

	deleted, err := adm.DeleteTopics(ctx, "made")
	require.NoError(t, err)
	require.NoError(t, deleted.Error())
	_, err = f.log.TopicConfig("made")
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
}

func ptr(s string) *string { return &s }

// TestTopicConfigValues checks what CreateTopics makes of Kafka's
// millisecond and byte settings: -1 and values too large for a
// time.Duration mean "no limit" or "as long as can be", never a
// wrap-around to a short time, and 0 means what it means to Kafka, not the
// Log's default; values Kafka refuses are refused with INVALID_CONFIG.
func TestTopicConfigValues(t *testing.T) {
	f := newFixture(t, nil)
	ctx := testContext(t)
	adm := kadm.NewClient(f.client(t))
	const (
		longMax = "9223372036854775807" // Kafka's Long.MAX_VALUE
		wraps   = "18446744073710"      // times 1e6 ns wraps to 448µs
		fits    = 9223372036854         // the most milliseconds a time.Duration holds
	)
	longest := time.Duration(fits) * time.Millisecond
	for i, tc := range []struct {
		name, value string
		want        eventlog.TopicConfig // Partitions 1 implied
		refused     bool
	}{
		{"retention.ms", "604800000", eventlog.TopicConfig{Retention: 7 * 24 * time.Hour}, false},
		{"retention.ms", "-1", eventlog.TopicConfig{Retention: eventlog.RetainForever}, false},
		{"retention.ms", wraps, eventlog.TopicConfig{Retention: eventlog.RetainForever}, false},
		{"retention.ms", longMax, eventlog.TopicConfig{Retention: eventlog.RetainForever}, false},
		{"retention.ms", strconv.FormatInt(fits, 10), eventlog.TopicConfig{Retention: longest}, false},
		{"retention.ms", "0", eventlog.TopicConfig{Retention: time.Millisecond}, false},
		{"retention.ms", "-2", eventlog.TopicConfig{}, true},
		{"segment.ms", wraps, eventlog.TopicConfig{SegmentAge: longest}, false},
		{"segment.ms", longMax, eventlog.TopicConfig{SegmentAge: longest}, false},
		{"segment.ms", "3600000", eventlog.TopicConfig{SegmentAge: time.Hour}, false},
		{"segment.ms", "0", eventlog.TopicConfig{}, true},
		{"segment.ms", "-1", eventlog.TopicConfig{}, true},
		{"delete.retention.ms", wraps, eventlog.TopicConfig{DeleteRetention: longest}, false},
		{"delete.retention.ms", "0", eventlog.TopicConfig{DeleteRetention: time.Millisecond}, false},
		{"delete.retention.ms", "-1", eventlog.TopicConfig{}, true},
		{"min.compaction.lag.ms", longMax, eventlog.TopicConfig{MinCompactionLag: longest}, false},
		{"min.compaction.lag.ms", "-1", eventlog.TopicConfig{}, true},
		{"max.compaction.lag.ms", longMax, eventlog.TopicConfig{}, false}, // Kafka's default: no limit
		{"max.compaction.lag.ms", wraps, eventlog.TopicConfig{}, false},
		{"max.compaction.lag.ms", "60000", eventlog.TopicConfig{MaxCompactionLag: time.Minute}, false},
		{"max.compaction.lag.ms", "0", eventlog.TopicConfig{}, true},
		{"retention.bytes", "-1", eventlog.TopicConfig{RetentionBytes: -1}, false},
		{"retention.bytes", "-5", eventlog.TopicConfig{RetentionBytes: -1}, false},
		{"retention.bytes", longMax, eventlog.TopicConfig{RetentionBytes: math.MaxInt64}, false},
		{"retention.bytes", "0", eventlog.TopicConfig{RetentionBytes: 1}, false},
		{"segment.bytes", "1048576", eventlog.TopicConfig{SegmentBytes: 1 << 20}, false},
		{"segment.bytes", "4294968320", eventlog.TopicConfig{}, true}, // 2^32 + 1024: not an int
		{"segment.bytes", "0", eventlog.TopicConfig{}, true},
		{"max.message.bytes", "4294968320", eventlog.TopicConfig{}, true},
		{"max.message.bytes", "0", eventlog.TopicConfig{}, true},
		{"min.cleanable.dirty.ratio", "0.25", eventlog.TopicConfig{MinCleanableDirtyRatio: 0.25}, false},
		// Kafka's 0 cleans a partition at any dirt, not at the Log's default ratio.
		{"min.cleanable.dirty.ratio", "0", eventlog.TopicConfig{MinCleanableDirtyRatio: math.SmallestNonzeroFloat64}, false},
		{"min.cleanable.dirty.ratio", "NaN", eventlog.TopicConfig{}, true},
		{"flush.messages", "1", eventlog.TopicConfig{Durability: eventlog.DurabilityFsync}, false},
		{"flush.messages", longMax, eventlog.TopicConfig{Durability: eventlog.DurabilityOS}, false},
		{"flush.messages", "0", eventlog.TopicConfig{}, true}, // Kafka's least is 1
		{"flush.messages", "-1", eventlog.TopicConfig{}, true},
		{"message.timestamp.type", "CreateTime", eventlog.TopicConfig{}, false},
		{"message.timestamp.type", "LogAppendTime", eventlog.TopicConfig{}, true},
		{"compression.type", "producer", eventlog.TopicConfig{}, false},
		{"compression.type", "zstd", eventlog.TopicConfig{}, true},
		{"min.insync.replicas", "1", eventlog.TopicConfig{}, false},
		{"min.insync.replicas", "2", eventlog.TopicConfig{}, true},
		{"min.insync.replicas", "0", eventlog.TopicConfig{}, true},
	} {
		topic := fmt.Sprintf("t%d", i)
		what := tc.name + "=" + tc.value
		resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{tc.name: ptr(tc.value)}, topic)
		if tc.refused {
			assert.ErrorIs(t, err, kerr.InvalidConfig, what)
			continue
		}
		if !assert.NoError(t, err, what) || !assert.NoError(t, resp.Err, what) {
			continue
		}
		got, err := f.log.TopicConfig(topic)
		require.NoError(t, err, what)
		tc.want.Partitions = 1
		assert.Equal(t, tc.want, got, what)
	}
}

func TestCloseEndsConnectionsAndWaits(t *testing.T) {
	l := newFixture(t, nil).log
	f := serve(t, l, nil)
	conns := []*rawConn{dialRaw(t, f.addr), dialRaw(t, f.addr)}
	// One connection is mid-request: half a frame sent.
	conns[1].sendBytes([]byte{0, 0, 0, 100, 0})
	// Wait until the server has accepted both.
	for _, r := range conns {
		req := kmsg.NewPtrApiVersionsRequest()
		if r == conns[1] {
			continue
		}
		r.roundTrip(req)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	require.NoError(t, f.srv.Shutdown(shutdownCtx))
	for _, r := range conns {
		r.closed()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, f.srv.Serve(ln), kafkaserver.ErrServerClosed, "a closed server serves no more")
}
