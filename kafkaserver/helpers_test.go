package kafkaserver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkaserver"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testTimeout bounds every wait of a test; nothing sleeps.
const testTimeout = 30 * time.Second

// fixture is a Log served on a loopback listener.
type fixture struct {
	log    *eventlog.Log
	srv    *kafkaserver.Server
	addr   string
	served chan error
}

// serve starts a Server for l on 127.0.0.1 and closes it when the test
// ends, checking that Serve returned ErrServerClosed.
func serve(t testing.TB, l *eventlog.Log, opts *kafkaserver.Options) *fixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return serveOn(t, ln, l, opts)
}

// serveOn is serve on a listener of the test's.
func serveOn(t testing.TB, ln net.Listener, l *eventlog.Log, opts *kafkaserver.Options) *fixture {
	t.Helper()
	srv, err := kafkaserver.New(l, opts)
	require.NoError(t, err)
	f := &fixture{log: l, srv: srv, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { f.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		select {
		case err := <-f.served:
			require.ErrorIs(t, err, kafkaserver.ErrServerClosed)
		case <-time.After(testTimeout):
			t.Fatal("Serve did not return after Close")
		}
	})
	return f
}

// newFixture opens a throwaway Log with topics and serves it.
func newFixture(t *testing.T, topics map[string]eventlog.TopicConfig) *fixture {
	t.Helper()
	l := eventlogtest.New(t, nil)
	for name, cfg := range topics {
		require.NoError(t, l.CreateTopic(name, cfg))
	}
	return serve(t, l, nil)
}

// client returns a kgo client of the fixture, closed when the test ends.
func (f *fixture) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(f.addr)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	return cl
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// consume polls cl until it has n records.
func consume(t *testing.T, ctx context.Context, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(out), n, err)
		}
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.Canceled) {
				t.Fatalf("fetch error on %s/%d: %v", e.Topic, e.Partition, e.Err)
			}
		}
		out = append(out, fs.Records()...)
	}
	return out
}
