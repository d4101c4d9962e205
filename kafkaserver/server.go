package kafkaserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/eventlog/eventlog"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Close or
// Shutdown.
var ErrServerClosed = errors.New("kafkaserver: server closed")

// ErrNotLoopback is returned by ListenAndServe for an address that is not
// a loopback address, unless Options.AllowNonLoopback is set.
var ErrNotLoopback = errors.New("kafkaserver: refusing to listen on a non-loopback address")

// Defaults of Options.
const (
	DefaultMaxRequestBytes = 100 << 20        // socket.request.max.bytes
	DefaultFetchMaxBytes   = 55 << 20         // fetch.max.bytes (57671680)
	DefaultIdleTimeout     = 10 * time.Minute // connections.max.idle.ms
	DefaultWriteTimeout    = 30 * time.Second // clients' request.timeout.ms
	DefaultClusterID       = "eventlog"
	handshakeTimeout       = 10 * time.Second
)

// Defaults of Options: Kafka's bounds of group session timeouts.
const (
	DefaultGroupMinSessionTimeout = 6 * time.Second  // group.min.session.timeout.ms
	DefaultGroupMaxSessionTimeout = 30 * time.Minute // group.max.session.timeout.ms
)

// Options configure a Server. A nil or zero Options is all defaults: no TLS,
// no authentication, node 0.
type Options struct {
	// Logger receives the server's log lines: connections refused or
	// closed on protocol errors, failed requests. Default: discard.
	Logger *slog.Logger

	// TLSConfig, when set, makes every connection TLS (Kafka's SSL
	// listener, security.protocol=SSL or SASL_SSL). It must hold a
	// certificate; set ClientAuth for mutual TLS (ssl.client.auth).
	TLSConfig *tls.Config

	// SASLPlain, when set, requires every connection to authenticate with
	// SASL/PLAIN before any request other than ApiVersions (Kafka's
	// sasl.enabled.mechanisms=PLAIN, security.protocol=SASL_PLAINTEXT or,
	// with TLSConfig, SASL_SSL). It is called with the user name and
	// password a client sends and returns nil to accept them. Without TLS
	// the password crosses the network in the clear.
	SASLPlain func(ctx context.Context, user, password string) error

	// AdvertisedAddr is the "host:port" clients are told to connect to in
	// Metadata and FindCoordinator (Kafka's advertised.listeners).
	// Default: the address each client connected to.
	AdvertisedAddr string

	// AutoCreateTopics creates a topic, with the Log's defaults, when a
	// client asks for its metadata and allows creation (Kafka's
	// auto.create.topics.enable, whose default is true; here false).
	AutoCreateTopics bool

	// AllowNonLoopback lets ListenAndServe listen on addresses other than
	// loopback ones. Serve takes any listener it is given.
	AllowNonLoopback bool

	// MaxRequestBytes is the largest request accepted; a larger one
	// closes the connection (Kafka's socket.request.max.bytes). Default
	// 100 MiB.
	MaxRequestBytes int

	// IdleTimeout closes a connection that sends no request for this
	// long, and one that takes longer than this to send a request it has
	// begun (Kafka's connections.max.idle.ms). A request being handled,
	// such as a fetch waiting for records, does not count as idle.
	// Default 10 minutes; negative: never.
	IdleTimeout time.Duration

	// WriteTimeout closes a connection whose client takes longer than this
	// to read a response. Until the response is written or given up, it
	// holds its memory and the segments it reads from, even those that
	// retention or DeleteRecords removed. Default 30 seconds, the
	// request.timeout.ms after which Kafka clients give up on a response
	// themselves; negative: never.
	WriteTimeout time.Duration

	// NodeID is the broker ID the server reports (Kafka's node.id).
	// Default 0.
	NodeID int32

	// ClusterID is the cluster ID reported in Metadata. Default
	// "eventlog".
	ClusterID string

	// FetchMaxBytes caps the record bytes of a Fetch response, whatever
	// max bytes the request asks for (Kafka's fetch.max.bytes); a request
	// asking for none (0 or less) gets this much. As in Kafka, the first
	// batch of a response is served whole even if it is larger. Default
	// 55 MiB; at most 1 GiB.
	FetchMaxBytes int

	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session
	// timeout a JoinGroup may ask for; others are answered with
	// INVALID_SESSION_TIMEOUT (Kafka's group.min.session.timeout.ms and
	// group.max.session.timeout.ms). A member that stops sending holds its
	// partitions for its session timeout. Default 6 seconds and 30
	// minutes.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration

	// CheckFetchCRCs makes Fetch check the CRC-32C of every batch it
	// serves, and answer a damaged one with KAFKA_STORAGE_ERROR and a
	// log line. By default it does not, as a Kafka broker does not (Kafka
	// has no broker setting for it): the consumer checks what it receives
	// (its check.crcs, on by default in the Java client and franz-go, off
	// in librdkafka). Checking costs a pass over every byte served.
	CheckFetchCRCs bool
}

// Server makes an eventlog.Log reachable by Kafka clients. It answers the
// Kafka protocol on the listeners given to Serve, one goroutine per
// connection, until Close or Shutdown. It does not own the Log: close the
// Server first, then the Log.
type Server struct {
	log  *eventlog.Log
	opts Options
	apis []api // supportedAPIs()

	// ctx ends at Close or Shutdown: requests waiting (a fetch for min
	// bytes, a JoinGroup for a rebalance) answer with what they have.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // Serve loops and connections

	members memberRegistry // external group members; see groups.go

	// closedLogged is done once the Log being closed has been logged:
	// a closed Log stays closed, and every request would log it again.
	closedLogged sync.Once

	mu struct {
		sync.Mutex
		closed    bool // Close or Shutdown began
		sweeping  bool // the member registry's sweep runs; see members.go
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
	}
}

// New returns a Server for l. A nil opts means defaults.
func New(l *eventlog.Log, opts *Options) (*Server, error) {
	if l == nil {
		return nil, errors.New("kafkaserver: nil Log")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxRequestBytes == 0 {
		o.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ClusterID == "" {
		o.ClusterID = DefaultClusterID
	}
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if o.GroupMinSessionTimeout == 0 {
		o.GroupMinSessionTimeout = DefaultGroupMinSessionTimeout
	}
	if o.GroupMaxSessionTimeout == 0 {
		o.GroupMaxSessionTimeout = DefaultGroupMaxSessionTimeout
	}
	switch {
	case o.MaxRequestBytes < 0:
		return nil, fmt.Errorf("kafkaserver: MaxRequestBytes %d is negative", o.MaxRequestBytes)
	case o.FetchMaxBytes < 0 || o.FetchMaxBytes > maxFetchResponseBytes:
		return nil, fmt.Errorf("kafkaserver: FetchMaxBytes %d is outside [1, %d]", o.FetchMaxBytes, maxFetchResponseBytes)
	case o.GroupMinSessionTimeout < 0 || o.GroupMinSessionTimeout > o.GroupMaxSessionTimeout:
		return nil, fmt.Errorf("kafkaserver: GroupMinSessionTimeout %v is negative or above GroupMaxSessionTimeout %v", o.GroupMinSessionTimeout, o.GroupMaxSessionTimeout)
	case o.NodeID < 0:
		return nil, fmt.Errorf("kafkaserver: NodeID %d is negative", o.NodeID)
	case o.TLSConfig != nil && len(o.TLSConfig.Certificates) == 0 && o.TLSConfig.GetCertificate == nil && o.TLSConfig.GetConfigForClient == nil:
		return nil, errors.New("kafkaserver: TLSConfig has no certificate")
	}
	if o.AdvertisedAddr != "" {
		if _, _, err := splitHostPort(o.AdvertisedAddr); err != nil {
			return nil, fmt.Errorf("kafkaserver: AdvertisedAddr: %w", err)
		}
	}
	s := &Server{log: l, opts: o, apis: supportedAPIs()}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.listeners = make(map[net.Listener]struct{})
	s.mu.conns = make(map[*conn]struct{})
	s.members.init()
	return s, nil
}

// ListenAndServe listens on the TCP address addr and serves it, as Serve
// does. An empty addr means "127.0.0.1:9092". Addresses other than loopback
// ones (127.0.0.0/8, ::1, localhost) are refused with ErrNotLoopback unless
// Options.AllowNonLoopback is set: the server has no authorization, so
// anyone who can connect can read, write and delete every topic.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:9092"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("kafkaserver: listen on %q: %w", addr, err)
	}
	if !s.opts.AllowNonLoopback && !isLoopback(host) {
		return fmt.Errorf("%w: %q (set Options.AllowNonLoopback to allow it)", ErrNotLoopback, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("kafkaserver: %w", err)
	}
	return s.Serve(ln)
}

// isLoopback reports whether host names only loopback addresses.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve accepts connections on ln and serves each on a goroutine of its
// own until Close or Shutdown, which close ln; it then returns
// ErrServerClosed. Serve may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	if !s.enroll(func() { s.mu.listeners[ln] = struct{}{} }) {
		_ = ln.Close()
		return ErrServerClosed
	}
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.mu.listeners, ln)
		s.mu.Unlock()
		_ = ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of file descriptors and the like: wait, as
				// net/http does, rather than spin or give up.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Logger.Warn("kafkaserver: accept failed; retrying", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
				case <-s.ctx.Done():
				}
				continue
			}
			return fmt.Errorf("kafkaserver: accept: %w", err)
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.enroll(func() { s.mu.conns[c] = struct{}{} }) {
			_ = nc.Close()
			return ErrServerClosed
		}
		go c.serve()
	}
}

// enroll registers, with add, a goroutine about to start, for Close to
// wait for; it reports false once the server is closed.
func (s *Server) enroll(add func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return false
	}
	add()
	s.wg.Add(1)
	return true
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// forget removes a finished connection.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.mu.conns, c)
	s.mu.Unlock()
}

// stopAccepting closes the listeners and marks the server closed, and
// returns the connections open at that moment.
func (s *Server) stopAccepting() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	for ln := range s.mu.listeners {
		_ = ln.Close()
	}
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	return conns
}

// Close stops accepting connections, closes every open one — requests in
// progress are dropped — and returns once every goroutine of the server
// has ended. The external group members of its clients leave their
// groups, which rebalance without them. Close is idempotent.
func (s *Server) Close() error {
	s.cancel()
	for _, c := range s.stopAccepting() {
		c.close()
	}
	s.wg.Wait()
	s.members.leaveAll()
	return nil
}

// Shutdown stops accepting connections, lets every connection finish the
// request it is handling — requests waiting for data or a rebalance answer
// at once with what they have — and closes it, then returns once every
// goroutine of the server has ended. If ctx ends first, Shutdown closes
// what is left as Close does and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	for _, c := range s.stopAccepting() {
		c.stopReading()
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.members.leaveAll()
		return nil
	case <-ctx.Done():
		_ = s.Close()
		<-done
		return ctx.Err()
	}
}

// logLogClosed logs, once, that the Log was closed under the Server: every
// request that reads or writes it fails from then on, with
// KAFKA_STORAGE_ERROR, until the Server is closed too.
func (s *Server) logLogClosed() {
	s.closedLogged.Do(func() {
		s.opts.Logger.Warn("kafkaserver: the Log is closed", "err", eventlog.ErrClosed)
	})
}

// advertised returns the host and port clients are to connect to, for a
// connection that reached the server at local.
func (s *Server) advertised(local net.Addr) (string, int32) {
	addr := s.opts.AdvertisedAddr
	if addr == "" && local != nil {
		addr = local.String()
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return "localhost", 9092
	}
	return host, port
}

// splitHostPort splits "host:port" with a numeric port.
func splitHostPort(addr string) (string, int32, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := net.LookupPort("tcp", portStr)
	if err != nil {
		return "", 0, err
	}
	return host, int32(port), nil
}
