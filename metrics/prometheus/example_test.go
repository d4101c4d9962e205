package eventlogprom_test

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventlog/eventlog"
	eventlogprom "github.com/eventlog/eventlog/metrics/prometheus"
)

// openExampleLog opens a Log in a new directory under dir holding one
// topic of the given name.
func openExampleLog(dir, topic string) *eventlog.Log {
	l, err := eventlog.Open(filepath.Join(dir, topic), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := l.CreateTopic(topic, eventlog.TopicConfig{}); err != nil {
		log.Fatal(err)
	}
	return l
}

// printScrape fetches url as Prometheus would and prints the lines that
// start with prefix.
func printScrape(url, prefix string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			fmt.Println(sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		log.Fatal(err)
	}
}

// The package documentation's first snippet: a Log's collector in a
// registry served on /metrics.
func ExampleNewCollector() {
	dir, err := os.MkdirTemp("", "eventlogprom-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l := openExampleLog(dir, "orders")
	defer l.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(eventlogprom.NewCollector(l, nil))
	mux := http.NewServeMux() // the snippet uses http.DefaultServeMux
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	srv := httptest.NewServer(mux)
	defer srv.Close()
	printScrape(srv.URL+"/metrics", "eventlog_partition_high_watermark{")
	// Output:
	// eventlog_partition_high_watermark{partition="0",topic="orders"} 0
}

// Several Logs in one registry: every collector has a constant label
// that tells its Log apart, the first one's too.
func ExampleNewCollector_severalLogs() {
	dir, err := os.MkdirTemp("", "eventlogprom-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	orders, payments := openExampleLog(dir, "orders"), openExampleLog(dir, "payments")
	defer orders.Close()
	defer payments.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(eventlogprom.NewCollector(orders, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "orders"}}))
	reg.MustRegister(eventlogprom.NewCollector(payments, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "payments"}}))

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	printScrape(srv.URL, "eventlog_partition_high_watermark{")
	// Output:
	// eventlog_partition_high_watermark{log="orders",partition="0",topic="orders"} 0
	// eventlog_partition_high_watermark{log="payments",partition="0",topic="payments"} 0
}
