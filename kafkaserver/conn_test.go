package kafkaserver_test

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// closedByServer checks that the server closes the connection: a read
// ends with EOF or a reset, not with the test's own deadline.
func closedByServer(t *testing.T, r *rawConn) {
	t.Helper()
	_, err := io.Copy(io.Discard, r.c) // nil at EOF
	if err != nil {
		require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "the server did not close the connection")
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
}

// TestRequestBufferGrowsAsBytesArrive claims a request of 90 MiB and sends
// 100 bytes of it: the server allocates for what arrives, not for what the
// request claims.
func TestRequestBufferGrowsAsBytesArrive(t *testing.T) {
	closing := newSignal("kafkaserver: closing connection")
	f := serve(t, eventlogtest.New(t, nil), &kafkaserver.Options{Logger: slog.New(closing)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := dialRaw(t, f.addr)
	r.sendBytes(append([]byte{0x05, 0xa0, 0, 0}, make([]byte, 100)...))
	require.NoError(t, r.c.Close())
	closing.wait(t) // the request was read as far as it goes
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(16<<20), "allocated while reading 100 bytes of a request")
}

// TestLargeRequestBufferReleased sends a request larger than a connection
// keeps a buffer for: once it is answered, the connection no longer holds
// it.
func TestLargeRequestBufferReleased(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// A batch of 20 MiB whose CRC is wrong: answered with an error.
	p := r.produce("t", damagedBatch(20<<20))
	assert.NotZero(t, p.ErrorCode)
	// The connection serves on, and lets the buffer go after it answers,
	// before it reads the next request: once that is answered too, the
	// buffer is gone.
	r.roundTrip(kmsg.NewPtrApiVersionsRequest())
	runtime.GC()
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(8<<20), "heap grown by a request answered")
}

// damagedBatch returns a record batch of size bytes whose CRC is wrong.
func damagedBatch(size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b[8:], uint32(size-12)) // length
	b[16] = 2                                          // magic
	return b
}

// TestSASLLimitsUnauthenticatedRequests: before a client authenticates,
// a request larger than Kafka's sasl.server.max.receive.size closes the
// connection at once; after, the usual limit applies.
func TestSASLLimitsUnauthenticatedRequests(t *testing.T) {
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, MaxBatchBytes: 2 << 20}))
	f := serve(t, l, &kafkaserver.Options{SASLPlain: checkPlain})
	r := dialRaw(t, f.addr)
	r.sendBytes([]byte{0, 0x0a, 0, 0}) // 640 KiB to come
	closedByServer(t, r)

	ctx := testContext(t)
	cl := f.client(t, kgo.SASL(plain.Auth{User: "alice", Pass: "s3cret"}.AsMechanism()), kgo.DefaultProduceTopic("t"),
		kgo.ProducerBatchMaxBytes(2<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	require.NoError(t, cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1<<20)}).FirstErr())
}

// TestIdleTimeout: a connection that sends no request for IdleTimeout, or
// takes longer than that to send one, is closed; one whose request waits
// longer than that is not.
func TestIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, &kafkaserver.Options{IdleTimeout: idle})

	t.Run("after a request", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		// The server's idle time starts once it has the request, before
		// the answer reaches the client: so it is timed from before the
		// request is sent.
		start := time.Now()
		r.roundTrip(kmsg.NewPtrApiVersionsRequest())
		closedByServer(t, r)
		assert.GreaterOrEqual(t, time.Since(start), idle)
	})
	t.Run("no request", func(t *testing.T) {
		closedByServer(t, dialRaw(t, f.addr))
	})
	t.Run("half a size", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		r.sendBytes([]byte{0, 0})
		closedByServer(t, r)
	})
	t.Run("half a request", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		r.sendBytes([]byte{0, 0, 0, 100, 0, 18, 0, 3})
		closedByServer(t, r)
	})
	t.Run("a long wait", func(t *testing.T) {
		r := dialRaw(t, f.addr)
		req := fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
		req.MaxWaitMillis = int32(3 * idle / time.Millisecond)
		start := time.Now()
		resp := r.roundTrip(req).(*kmsg.FetchResponse)
		assert.GreaterOrEqual(t, time.Since(start), 3*idle)
		assert.Empty(t, resp.Topics[0].Partitions[0].RecordBatches)
		r.roundTrip(kmsg.NewPtrApiVersionsRequest())
	})
}

// TestWaitingFetchEndsWithItsConnection closes the connection of a fetch
// that would wait 24 days for records: the server stops waiting.
func TestWaitingFetchEndsWithItsConnection(t *testing.T) {
	gone := newSignal("kafkaserver: client went away during a request")
	l := eventlogtest.New(t, nil)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1}))
	f := serve(t, l, &kafkaserver.Options{Logger: slog.New(gone)})
	r := dialRaw(t, f.addr)
	req := fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
	req.MaxWaitMillis = math.MaxInt32
	r.send(req)
	require.NoError(t, r.c.Close())
	gone.wait(t)
}

// TestWaitingFetchPipelined sends a request behind a fetch that waits: it
// is answered after the fetch, intact.
func TestWaitingFetchPipelined(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{"t": {Partitions: 1}})
	r := dialRaw(t, f.addr)
	fetch := fetchRequest(12, "t", map[int32]int64{0: 0}, 1<<20, 1<<20)
	fetch.MaxWaitMillis = 200
	r.send(fetch)
	api := kmsg.NewPtrApiVersionsRequest()
	api.SetVersion(3)
	api.ClientSoftwareName, api.ClientSoftwareVersion = "test", "1.0"
	r.send(api)
	r.corr-- // the fetch's response comes first
	resp := fetch.ResponseKind()
	r.receive(resp)
	assert.Empty(t, resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches)
	r.corr++
	apiResp := api.ResponseKind()
	r.receive(apiResp)
	assert.NotEmpty(t, apiResp.(*kmsg.ApiVersionsResponse).ApiKeys)
}

// TestUnreadResponseTimesOut sends a fetch whose response outgrows the
// sockets' buffers and reads none of it: after WriteTimeout the server
// gives the response up, closes the connection and lets go of the
// segments it read, which DeleteRecords deleted meanwhile; Shutdown does
// not wait longer.
func TestUnreadResponseTimesOut(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		name := "write timeout"
		if shutdown {
			name = "shutdown"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := eventlog.Open(dir, &eventlog.Options{Durability: eventlog.DurabilityOS})
			require.NoError(t, err)
			t.Cleanup(func() { _ = l.Close() })
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 1, SegmentBytes: 256 << 10}))
			p, err := l.Partition("t", 0)
			require.NoError(t, err)
			appendBatches(t, p, 128, 32<<10)
			first := filepath.Join(dir, "topics", "t", "0", "00000000000000000000.log")
			require.FileExists(t, first)

			writeFailed := newSignal("kafkaserver: write failed")
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			f := serveOn(t, smallBuffers{ln}, l, &kafkaserver.Options{Logger: slog.New(writeFailed), WriteTimeout: 500 * time.Millisecond})
			r := dialRaw(t, f.addr)
			require.NoError(t, r.c.(*net.TCPConn).SetReadBuffer(256<<10))
			r.send(fetchRequest(12, "t", map[int32]int64{0: 0}, 8<<20, 8<<20))
			r.receiveSize() // the response is being written; nothing more is read
			deleteRecords(t, l, nil, nil)

			if shutdown {
				require.NoError(t, f.srv.Shutdown(testContext(t)))
			} else {
				writeFailed.wait(t)
			}
			assert.NoFileExists(t, first, "the response given up lets go of its segments")
			closedByServer(t, r)
		})
	}
}
