package kafkaserver_test

import (
	"context"
	"log"
	"os"
	ossignal "os/signal"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkaserver"
)

// The package documentation's snippet, with its errors checked: serve a
// Log to Kafka clients on the loopback address until Ctrl-C, for example
// to
//
//	kcat -b 127.0.0.1:9092 -t orders -C
//
// then close the Server, then the Log. (The example is compiled, not run:
// it listens on a fixed port until interrupted.)
func ExampleNew() {
	l, err := eventlog.Open(os.Getenv("EVENTLOG_DIR"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close() // after the Server's Close below
	srv, err := kafkaserver.New(l, nil)
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe("127.0.0.1:9092") }() // loopback unless AllowNonLoopback

	ctx, stop := ossignal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-served: // the address is taken, for example
		log.Print(err)
	}
	if err := srv.Close(); err != nil { // or Shutdown(ctx); then l.Close()
		log.Print(err)
	}
}
