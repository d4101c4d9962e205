package kafkaserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing (Kafka's wire protocol, every integer big endian):
//
//	request:  size int32 | api key int16 | api version int16 | correlation id int32 |
//	          client id nullable string (int16 length) | [tagged fields, flexible versions] |
//	          body (kmsg)
//	response: size int32 | correlation id int32 | [tagged fields, flexible versions
//	          except ApiVersions] | body (kmsg)
//
// A connection is served by one goroutine that reads a request, handles
// it and writes its response before reading the next, so pipelined
// requests are answered in order, as Kafka answers them.

// maxRetainedBuffer is the largest read or write buffer a connection keeps
// between requests: enough for produce requests of a few MiB, and for a
// fetch over TLS of kgo's default 1 MiB from each of a few partitions,
// which would otherwise allocate and clear a buffer every time. A larger
// one is let go once its request is answered.
const maxRetainedBuffer = 16 << 20

// minReadGrowth is the least a request's read buffer grows by. It grows
// as the request's bytes arrive, not to the size the request claims, so
// that a client that claims 100 MiB and sends a few bytes costs a few
// bytes.
const minReadGrowth = 64 << 10

// maxUnauthenticatedRequestBytes bounds the requests of a connection that
// has yet to authenticate with SASL (Kafka's sasl.server.max.receive.size
// and its default), so that anyone who can connect cannot make the server
// read MaxRequestBytes.
const maxUnauthenticatedRequestBytes = 512 << 10

// errIdle ends a connection that sent no request for Options.IdleTimeout.
var errIdle = errors.New("idle for longer than connections.max.idle.ms")

// conn is one client connection.
type conn struct {
	s   *Server
	raw net.Conn // as accepted; closed by close, from any goroutine

	closeOnce sync.Once

	// ctx is the context of the connection's requests: it ends when the
	// server closes, when the connection does, and when the client goes
	// away while a request waits (watchClient).
	ctx    context.Context
	cancel context.CancelFunc

	// Owned by the connection's goroutine.
	nc            net.Conn // raw, or the TLS connection over it
	r             *bufio.Reader
	in, out       []byte
	req           request       // the request being handled
	fetch         fetchResponse // reused by every Fetch
	splices       []splice      // of the Fetch response being written
	iovecs        net.Buffers   // of the Fetch response being written over TCP
	gathered      []byte        // the Fetch response being written over TLS
	authenticated bool          // SASL done, or not required
	mechanism     string        // chosen by SaslHandshake
	user          string        // authenticated SASL user
	closeAfter    bool          // close once the response is written

	// watch, while a request waits, is closed when the goroutine
	// watching for the client to go away ends; clientGone is set before
	// if it saw the client go.
	watch      chan struct{}
	clientGone bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, raw: nc, nc: nc, authenticated: s.opts.SASLPlain == nil}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	return c
}

// close closes the network connection, unblocking its goroutine.
func (c *conn) close() {
	c.closeOnce.Do(func() { _ = c.raw.Close() })
}

// stopReading makes a connection waiting for its next request stop, and
// one handling a request stop after answering it.
func (c *conn) stopReading() {
	_ = c.raw.SetReadDeadline(time.Now())
}

// setReadTimeout makes the connection's reads fail after d from now, or
// never for d <= 0. It reports false once the server is closing: the
// deadline stopReading set may have been replaced, and the connection is
// to end.
func (c *conn) setReadTimeout(d time.Duration) bool {
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	_ = c.nc.SetReadDeadline(deadline)
	// Close and Shutdown cancel the server's context before stopReading.
	return c.s.ctx.Err() == nil
}

// setWriteTimeout makes the connection's writes fail after
// Options.WriteTimeout from now.
func (c *conn) setWriteTimeout() {
	if d := c.s.opts.WriteTimeout; d > 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	}
}

// watchClient ends the request being handled, by cancelling its context,
// if the client closes the connection meanwhile, as Kafka forgets the
// requests of a closed connection. A handler calls it before it waits —
// for records, for a rebalance — and the connection's goroutine stops the
// watch (endWatch) once the request is handled. A client that sends
// another request first (pipelining) is not watched any further.
func (c *conn) watchClient() {
	if c.watch != nil {
		return
	}
	if !c.setReadTimeout(0) { // the wait may outlast the idle timeout
		return // the request's context has ended
	}
	done := make(chan struct{})
	c.watch = done
	go func() {
		defer close(done)
		// Peek does not consume: what arrives is the next request's.
		_, err := c.r.Peek(1)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.clientGone = true
			c.cancel()
		}
	}()
}

// endWatch stops watchClient's goroutine and waits for it.
func (c *conn) endWatch() {
	if c.watch == nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Unix(1, 0)) // in the past: Peek returns
	<-c.watch
	c.watch = nil
}

// request is one decoded request.
type request struct {
	ctx         context.Context
	key         int16
	version     int16
	correlation int32
	clientID    string
	kreq        kmsg.Request
	release     []func() // run once the response is written: read batches

	// fetch, set by a Fetch, is the response to write instead of a
	// kmsg.Response: its record batches are read in place, and release
	// lets go of them once it is written.
	fetch *fetchResponse
}

// onDone arranges for fn to run once the response has been written.
func (r *request) onDone(fn func()) { r.release = append(r.release, fn) }

// releaseAll runs what onDone arranged.
func (r *request) releaseAll() {
	for _, fn := range r.release {
		fn()
	}
	clear(r.release)
	r.release = r.release[:0]
}

// serve runs the connection until the client goes or the server closes.
func (c *conn) serve() {
	defer c.s.wg.Done()
	defer c.s.forget(c)
	defer c.cancel()
	defer c.close()
	log := c.s.opts.Logger.With("remote", c.raw.RemoteAddr().String())
	if cfg := c.s.opts.TLSConfig; cfg != nil {
		tc := tls.Server(c.nc, cfg)
		c.nc = tc
		ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			log.Info("kafkaserver: TLS handshake failed", "err", err)
			return
		}
	}
	c.r = bufio.NewReaderSize(c.nc, 64<<10)
	for {
		if !c.setReadTimeout(c.s.opts.IdleTimeout) {
			return
		}
		req, err := c.readRequest()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) || c.s.closing():
			case errors.Is(err, errIdle):
				log.Debug("kafkaserver: closing idle connection")
			default:
				log.Info("kafkaserver: closing connection", "err", err)
			}
			return
		}
		resp, err := c.handle(req)
		c.endWatch()
		if err != nil {
			req.releaseAll()
			log.Info("kafkaserver: closing connection", "client", req.clientID, "api", kmsg.NameForKey(req.key), "version", req.version, "err", err)
			return
		}
		if c.clientGone {
			if req.fetch != nil {
				req.fetch.reset(0)
			}
			req.releaseAll()
			if c.s.closing() {
				return
			}
			log.Debug("kafkaserver: client went away during a request", "client", req.clientID, "api", kmsg.NameForKey(req.key))
			return
		}
		c.setWriteTimeout()
		switch {
		case req.fetch != nil:
			err = c.writeFetch(req, req.fetch)
			req.fetch.reset(0)
		case resp != nil:
			err = c.writeResponse(req, resp)
		}
		req.releaseAll()
		c.forgetRequest()
		if err != nil {
			if !c.s.closing() {
				log.Info("kafkaserver: write failed", "err", err)
			}
			return
		}
		if c.closeAfter {
			return // the client was told why; Kafka closes too
		}
	}
}

// forgetRequest drops the connection's references to the request it
// answered — its decoded form points into the read buffer — and lets go
// of a read buffer larger than a connection keeps.
func (c *conn) forgetRequest() {
	c.req = request{release: c.req.release}
	if cap(c.in) > maxRetainedBuffer {
		c.in = nil
	}
}

// readRequest reads and decodes the next request. The request must arrive
// in full within Options.IdleTimeout of its size.
func (c *conn) readRequest() (*request, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) && c.s.ctx.Err() == nil {
			return nil, errIdle
		}
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	switch {
	case n < 8 || int64(n) > int64(c.s.opts.MaxRequestBytes):
		return nil, fmt.Errorf("request of %d bytes is outside [8, %d] (socket.request.max.bytes)", n, c.s.opts.MaxRequestBytes)
	case !c.authenticated && n > maxUnauthenticatedRequestBytes:
		return nil, fmt.Errorf("request of %d bytes before SASL authentication is larger than %d (sasl.server.max.receive.size)", n, maxUnauthenticatedRequestBytes)
	}
	if !c.setReadTimeout(c.s.opts.IdleTimeout) {
		return nil, ErrServerClosed
	}
	body, err := c.readBody(int(n))
	if err != nil {
		return nil, fmt.Errorf("request of %d bytes cut short: %w", n, err)
	}
	r := kbin.Reader{Src: body}
	req := &c.req
	*req = request{ctx: c.ctx, key: r.Int16(), version: r.Int16(), correlation: r.Int32(), release: req.release}
	if id := r.NullableString(); id != nil {
		req.clientID = *id
	}
	if !r.Ok() {
		return nil, errors.New("request header cut short")
	}
	req.kreq = kmsg.RequestForKey(req.key)
	if req.kreq == nil {
		return nil, fmt.Errorf("unknown API key %d", req.key)
	}
	if req.version < 0 || req.version > req.kreq.MaxVersion() {
		if req.key == apiVersionsKey {
			// Answered with UNSUPPORTED_VERSION and the versions of
			// ApiVersions served (KIP-511), whatever the body holds.
			return req, nil
		}
		return nil, fmt.Errorf("%s version %d is not a version of the protocol", kmsg.NameForKey(req.key), req.version)
	}
	req.kreq.SetVersion(req.version)
	if req.kreq.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return nil, errors.New("request header tags cut short")
		}
	}
	if err := req.kreq.ReadFrom(r.Src); err != nil {
		return nil, fmt.Errorf("%s v%d: %w", kmsg.NameForKey(req.key), req.version, err)
	}
	return req, nil
}

// readBody reads the n bytes of a request into c.in, growing it, by
// doubling, as the bytes arrive.
func (c *conn) readBody(n int) ([]byte, error) {
	buf := c.in[:0]
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, max(2*cap(buf), minReadGrowth)))
			copy(grown, buf)
			buf = grown
		}
		read, err := io.ReadFull(c.r, buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+read]
		if err != nil {
			c.in = buf[:0]
			return nil, err
		}
	}
	c.in = buf
	return buf, nil
}

// writeResponse frames and writes resp.
func (c *conn) writeResponse(req *request, resp kmsg.Response) error {
	resp.SetVersion(req.version)
	out := append(c.out[:0], 0, 0, 0, 0)
	out = binary.BigEndian.AppendUint32(out, uint32(req.correlation))
	if resp.IsFlexible() && req.key != apiVersionsKey {
		out = append(out, 0) // no header tags
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	_, err := c.nc.Write(out)
	c.out = retained(out)
	return err
}

// retained returns buf emptied, to be used again, or nil if it is larger
// than a connection keeps.
func retained(buf []byte) []byte {
	if cap(buf) > maxRetainedBuffer {
		return nil
	}
	return buf[:0]
}

// handle answers one request. A nil response means none is sent (a
// produce with acks=0) unless req.fetch was set (a Fetch); an error closes
// the connection.
func (c *conn) handle(req *request) (kmsg.Response, error) {
	if !c.authenticated && req.key != apiVersionsKey && req.key != saslHandshakeKey && req.key != saslAuthenticateKey {
		return nil, fmt.Errorf("%s before SASL authentication", kmsg.NameForKey(req.key))
	}
	if req.key == apiVersionsKey {
		return c.handleAPIVersions(req), nil
	}
	a, ok := c.s.api(req.key)
	if !ok || req.version < a.min || req.version > a.max {
		// As Kafka's broker does (SocketServer's parseRequestHeader):
		// the client was told what is served, in ApiVersions.
		return nil, fmt.Errorf("%s version %d is not served", kmsg.NameForKey(req.key), req.version)
	}
	return a.handle(c, req)
}
