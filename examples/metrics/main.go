// Command metrics is a small service that keeps an eventlog.Log, produces
// orders to it and consumes them in a consumer group in the background, and
// serves the log's metrics for Prometheus on /metrics:
//
//	go run . -addr localhost:9464 -dir /tmp/orders-log
//	curl -s localhost:9464/metrics | grep ^eventlog_
//
// With -once it produces -records records, consumes and commits them all,
// scrapes its own /metrics over HTTP, prints what it got and exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventlog/eventlog"
	eventlogprom "github.com/eventlog/eventlog/metrics/prometheus"
)

// config is what the flags set.
type config struct {
	dir      string        // log directory; a temporary one if empty
	addr     string        // address /metrics is served on
	once     bool          // produce and consume records, scrape once, exit
	records  int           // how many records -once produces
	interval time.Duration // between records while serving
	// listening, if set, is told the address the server listens on.
	listening func(addr string)
}

const (
	topic = "orders"
	group = "billing"
)

func main() {
	var cfg config
	flag.StringVar(&cfg.dir, "dir", "", "log directory (default: a temporary directory, removed at exit)")
	flag.StringVar(&cfg.addr, "addr", "localhost:9464", "address to serve /metrics on")
	flag.BoolVar(&cfg.once, "once", false, "produce and consume -records records, print one scrape of /metrics and exit")
	flag.IntVar(&cfg.records, "records", 1000, "records to produce with -once")
	flag.DurationVar(&cfg.interval, "interval", 100*time.Millisecond, "time between records while serving")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// run opens the log, serves /metrics and runs the producer and the
// consumer until ctx ends or, with cfg.once, until every record is
// consumed and the metrics are printed to out.
func run(ctx context.Context, cfg config, out io.Writer) (err error) {
	if cfg.dir == "" {
		if cfg.dir, err = os.MkdirTemp("", "eventlog-metrics-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.dir)
	}
	l, err := eventlog.Open(cfg.dir, nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	if err := l.CreateTopic(topic, eventlog.TopicConfig{Partitions: 3}); err != nil && !errors.Is(err, eventlog.ErrTopicExists) {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(eventlogprom.NewCollector(l, nil), collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		err = errors.Join(err, srv.Shutdown(context.Background()))
		if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}()
	url := "http://" + ln.Addr().String() + "/metrics"
	log.Printf("serving %s (log in %s)", url, cfg.dir)
	if cfg.listening != nil {
		cfg.listening(ln.Addr().String())
	}

	if !cfg.once {
		return work(ctx, l, -1, cfg.interval)
	}
	if err := work(ctx, l, cfg.records, 0); err != nil {
		return err
	}
	return scrape(ctx, url, out)
}

// work produces records to the topic and consumes them in the group, in
// two goroutines: n records as fast as it can, and returns once they are
// consumed and committed; or, with n < 0, one record every interval until
// ctx ends.
func work(ctx context.Context, l *eventlog.Log, n int, interval time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var produced, consumed error
	wg.Go(func() {
		if produced = produce(ctx, l, n, interval); produced != nil {
			cancel()
		}
	})
	wg.Go(func() {
		consumed = consume(ctx, l, n)
		cancel()
	})
	wg.Wait()
	// Serving ends when ctx does, and when one side fails the other is
	// stopped: neither is an error of its own.
	return errors.Join(ignoreCanceled(produced), ignoreCanceled(consumed))
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// produce sends n records, or with n < 0 one every interval until ctx
// ends, and returns once the records it sent are stored (or failed).
//
// The records are sent with a context that ctx ending does not cancel: ctx
// stops the sending, and a record already sent, which may still wait in
// its batch for the producer's linger, is stored all the same. Sent with
// ctx itself, it would complete with ctx's error instead, unstored, and a
// service stopping would lose the records it sent last.
func produce(ctx context.Context, l *eventlog.Log, n int, interval time.Duration) (err error) {
	p, err := l.NewProducer(nil)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, p.Close()) }()
	sendCtx := context.WithoutCancel(ctx)
	var mu sync.Mutex
	var failed error // the first send that failed
	done := func(_ eventlog.RecordMetadata, err error) {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = err
		}
	}
	var tick <-chan time.Time
	if n < 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
send:
	for i := 0; (n < 0 || i < n) && ctx.Err() == nil; i++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
				break send
			}
		}
		p.SendAsync(sendCtx, eventlog.Record{
			Topic: topic,
			Key:   fmt.Appendf(nil, "customer-%d", i%17),
			Value: fmt.Appendf(nil, `{"order":%d,"cents":%d}`, i, 100+i%900),
		}, done)
		mu.Lock()
		err := failed
		mu.Unlock()
		if err != nil {
			break
		}
	}
	err = p.Flush(sendCtx)
	mu.Lock()
	defer mu.Unlock()
	if err := errors.Join(err, failed); err != nil {
		return err
	}
	return ctx.Err()
}

// consume reads the topic in the group, committing automatically, until
// ctx ends; or, with n >= 0, until it has read n records, which it then
// commits.
func consume(ctx context.Context, l *eventlog.Log, n int) (err error) {
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: group, AutoOffsetReset: eventlog.OffsetResetEarliest})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, c.Close()) }()
	if err := c.Subscribe(topic); err != nil {
		return err
	}
	read := 0
	for n < 0 || read < n {
		recs, err := c.Poll(ctx)
		if err != nil {
			return err
		}
		read += len(recs)
	}
	return c.CommitSync(ctx)
}

// scrape fetches url, as Prometheus would, and copies the exposition to out.
func scrape(ctx context.Context, url string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
