package kafkaserver_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzWait bounds how long one input may keep its connection: a Fetch or
// JoinGroup may rightly wait that long or longer, and is then left. (The
// fuzzer runs an input it finds new many times over to shrink it, so a
// longer bound stalls it for minutes at a time.) A server that fails
// later still fails the run.
const fuzzWait = 250 * time.Millisecond

// FuzzRequests sends the listener one request of the fuzzer's choosing —
// an API key, a version and the bytes after the request header (the
// header's tagged fields, then the body) — on a connection of its own,
// followed by an ApiVersions request. Whatever the bytes, the server must
// answer or close the connection, never take the process down, and go on
// serving: a new connection's ApiVersions is answered after every input
// the server closed a connection over. The seeds are a request of every
// API the server answers, at its lowest and highest version, about a topic
// that exists.
func FuzzRequests(f *testing.F) {
	l := eventlogtest.New(f, nil)
	require.NoError(f, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2}))
	fx := serve(f, l, nil)

	versions := apiVersions(f, fx.addr)
	require.NotEmpty(f, versions.ApiKeys)
	for _, k := range versions.ApiKeys {
		for _, v := range []int16{k.MinVersion, k.MaxVersion} {
			f.Add(k.ApiKey, v, requestBody(seedRequest(k.ApiKey, v)))
		}
	}

	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		c, err := net.Dial("tcp", fx.addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(fuzzWait)))
		frame := appendRequestFrame(nil, key, version, 1, body)
		frame = appendRequestFrame(frame, 18, 0, 2, nil) // ApiVersions v0
		if _, err := c.Write(frame); err != nil {
			apiVersions(t, fx.addr) // the server closed it before reading all: it must still serve
			return
		}
		err = readUntilCorrelation(c, 2)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded):
			// Still waiting, as a long Fetch or a JoinGroup does.
		default:
			apiVersions(t, fx.addr) // closed over the request: the server must still serve
		}
	})
}

// seedRequest is a request of key at version about topic "t", or with the
// fields' zero values where a topic has no place.
func seedRequest(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		batch := kmsg.RecordBatch{Magic: 2, NumRecords: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
		rec := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
		batch.Records = rec.AppendTo(nil)
		raw := batch.AppendTo(nil)
		binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
		r.Acks, r.TimeoutMillis = -1, 1000
		r.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: raw}}}}
	case *kmsg.FetchRequest:
		r.MaxBytes, r.MaxWaitMillis = 1<<20, 10
		r.Topics = []kmsg.FetchRequestTopic{{Topic: "t", Partitions: []kmsg.FetchRequestTopicPartition{{PartitionMaxBytes: 1 << 20}}}}
	case *kmsg.ListOffsetsRequest:
		r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: "t", Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Timestamp: -1}}}}
	case *kmsg.MetadataRequest:
		r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	case *kmsg.OffsetCommitRequest:
		r.Group, r.Generation = "g", -1
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Offset: 1}}}}
	case *kmsg.OffsetFetchRequest:
		r.Group = "g"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
	case *kmsg.FindCoordinatorRequest:
		r.CoordinatorKey, r.CoordinatorKeys = "g", []string{"g"}
	case *kmsg.JoinGroupRequest:
		r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = "g", 6000, 100
		r.ProtocolType = "consumer"
		r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 1, 0, 1, 't', 0, 0, 0, 0}}}
	case *kmsg.CreateTopicsRequest:
		r.TimeoutMillis = 1000
		r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: "new", NumPartitions: 1, ReplicationFactor: 1}}
	case *kmsg.DeleteRecordsRequest:
		r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: "t", Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Offset: 0}}}}
	case *kmsg.CreatePartitionsRequest:
		r.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: "t", Count: 3}}
		r.ValidateOnly = true
	case *kmsg.DescribeGroupsRequest:
		r.Groups = []string{"g"}
	}
	return req
}

// readUntilCorrelation reads responses until the one to the request with
// correlation ID id.
func readUntilCorrelation(c net.Conn, id int32) error {
	r := bufio.NewReader(c)
	var head [8]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return err
		}
		if int32(binary.BigEndian.Uint32(head[4:])) == id {
			return nil
		}
		size := int64(binary.BigEndian.Uint32(head[:4]))
		if _, err := io.CopyN(io.Discard, r, size-4); err != nil {
			return err
		}
	}
}

// apiVersions asks the server at addr what it answers.
func apiVersions(tb testing.TB, addr string) *kmsg.ApiVersionsResponse {
	tb.Helper()
	resp := dialRaw(tb, addr).roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
	require.Zero(tb, resp.ErrorCode)
	return resp
}
