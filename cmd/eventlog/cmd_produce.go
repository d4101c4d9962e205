package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) produceCommand() *cobra.Command {
	var (
		keySep      string
		headers     []string
		partition   int32
		timestamp   string
		compression string
		maxBytes    int
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Append the lines of standard input to a topic, one record each",
		Long: `Append the lines of standard input to a topic, one record per line, as
kcat -P does. With --key-separator, a line's key is what comes before the
first separator and its value what follows; a line without the separator
has a null key. Keyed records go to the partition Kafka's partitioner picks.

A line the log refuses (a record larger than max.message.bytes) stops the
command with exit code 1: the lines before it are stored, none after, and
the message says how many were stored. A topic without a max.message.bytes
of its own takes the one of the Options the log is opened with, which the
log does not store: --max-message-bytes sets it as your service does
(Options.MaxBatchBytes), the library's default being 1 MiB + 12 bytes.

Ctrl-C stops the reading: the lines read before it are stored, none after,
and the exit code is 130.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, names []string) (err error) {
			topic := names[0]
			if partition < -1 {
				return usageError("--partition %d is negative", partition)
			}
			var hs []eventlog.Header
			for _, h := range headers {
				k, v, ok := strings.Cut(h, "=")
				if !ok {
					return usageError("--header %q is not key=value", h)
				}
				hs = append(hs, eventlog.Header{Key: k, Value: []byte(v)})
			}
			var rt eventlog.Record
			if timestamp != "" {
				if rt.Timestamp, err = parseTime(timestamp); err != nil {
					return usageError("--timestamp: %v", err)
				}
				if err := checkRecordTime(rt.Timestamp); err != nil {
					return usageError("--timestamp %s: %v", timestamp, err)
				}
			}
			opts := &eventlog.ProducerOptions{Compression: -1}
			for c := eventlog.CompressionNone; c <= eventlog.CompressionZstd; c++ {
				if c.String() == compression {
					opts.Compression = c
				}
			}
			if opts.Compression < 0 {
				return usageError("--compression %q is not none, gzip, snappy, lz4 or zstd", compression)
			}
			if partition >= 0 {
				opts.Partitioner = eventlog.ManualPartitioner{}
			}
			if maxBytes < 0 {
				return usageError("--max-message-bytes %d is negative", maxBytes)
			}
			l, err := a.openWritable(false, &eventlog.Options{MaxBatchBytes: maxBytes})
			if maxBytes != 0 && errors.Is(err, eventlog.ErrInvalidConfig) {
				return usageError("--max-message-bytes: %w", unprefixed(err))
			}
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			cfg, err := l.TopicConfig(topic)
			if err != nil {
				return err
			}
			if partition >= int32(cfg.Partitions) {
				return fmt.Errorf("topic %q has no partition %d (it has %d)", topic, partition, cfg.Partitions)
			}
			prod, err := l.NewProducer(opts)
			if err != nil {
				return err
			}
			n, err := produceLines(cmd.Context(), prod, a.stdin, eventlog.Record{
				Topic: topic, Partition: partition, Timestamp: rt.Timestamp, Headers: hs}, keySep)
			if err = errors.Join(err, prod.Close()); errors.Is(err, errInterrupted) {
				return &codeError{code: exitInterrupted, err: fmt.Errorf(
					"interrupted: stored the %d records read before it; the rest of the input was not read", n)}
			}
			if err != nil {
				return fmt.Errorf("after %d records: %w", n, unprefixed(err))
			}
			if a.json {
				return printJSON(a.stdout, map[string]any{"topic": topic, "records": n})
			}
			fmt.Fprintf(a.stdout, "produced %d records to topic %s\n", n, topic)
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVarP(&keySep, "key-separator", "K", "", "split each line into key and value at the first occurrence of this")
	f.StringArrayVarP(&headers, "header", "H", nil, "add a header key=value to every record (repeatable)")
	f.Int32VarP(&partition, "partition", "p", -1, "append to this partition (default: by key, else spread)")
	f.StringVar(&timestamp, "timestamp", "", "the records' timestamp, RFC 3339 or Unix milliseconds, from 1970 to the end of 9999 (default: now)")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.IntVar(&maxBytes, "max-message-bytes", 0, "largest batch for a topic without its own max.message.bytes: your service's Options.MaxBatchBytes (default: the library's, 1048588)")
	return cmd
}

// Record timestamps that produce takes: those a Kafka producer takes,
// which is none before the Unix epoch (-1 stands for no timestamp in a
// batch), up to the last that RFC 3339, and so dump, can write.
var (
	minRecordTime = time.UnixMilli(0)
	maxRecordTime = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)
)

// checkRecordTime fails for a record timestamp out of produce's range.
func checkRecordTime(t time.Time) error {
	// By the milliseconds stored: 9999-12-31T23:59:59.9999Z is taken.
	switch ms := t.UnixMilli(); {
	case ms < minRecordTime.UnixMilli():
		return fmt.Errorf("%s is before %s: a record's timestamp is not negative", formatTime(t), formatTime(minRecordTime))
	case ms > maxRecordTime.UnixMilli():
		return fmt.Errorf("the year %d is after 9999, which RFC 3339 cannot write", t.UTC().Year())
	}
	return nil
}

// produceLines sends each line of r as a record made from template and
// returns how many the log stored. The first failure stops it: no line is
// sent once a send has failed, so that a line the log refuses (a record
// too large) is the last one tried, and the lines after it are not stored
// without it. Ctrl-C (the
// end of ctx) stops the reading: the lines read before it are stored, and
// the error is errInterrupted.
func produceLines(ctx context.Context, prod *eventlog.Producer, r io.Reader, template eventlog.Record, keySep string) (int64, error) {
	// The records are sent with a context that Ctrl-C does not end, so
	// that what was read before it is stored rather than dropped halfway.
	send := context.WithoutCancel(ctx)
	var (
		mu     sync.Mutex
		stored int64
		failed error
		// hasFailed is failed != nil, read before each send without mu.
		// A send the Producer refuses (a record too large) calls done
		// before SendAsync returns, so the next line sees it.
		hasFailed atomic.Bool
	)
	done := func(_ eventlog.RecordMetadata, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = errors.Join(failed, err)
			hasFailed.Store(true)
		} else {
			stored++
		}
	}
	// A read of standard input cannot be interrupted, so the lines are
	// read on a goroutine of their own: on Ctrl-C the command goes on
	// without it, and it ends with the process, or with stop once it has
	// read.
	chunks, readErr, stop := make(chan [][]byte), make(chan error, 1), make(chan struct{})
	defer close(stop)
	go func() { readErr <- readLines(bufio.NewReaderSize(r, 64<<10), chunks, stop) }()
	var (
		err         error
		interrupted bool
	)
read:
	for {
		select {
		case <-ctx.Done():
			interrupted = true
			break read
		case err = <-readErr: // after the last chunk: chunks is unbuffered
			break read
		case chunk := <-chunks:
			for _, line := range chunk {
				if hasFailed.Load() {
					break read
				}
				rec := template
				rec.Value = line
				if keySep != "" {
					if k, v, ok := bytes.Cut(line, []byte(keySep)); ok {
						rec.Key, rec.Value = k, v
					}
				}
				prod.SendAsync(send, rec, done)
			}
			if hasFailed.Load() {
				break read
			}
		}
	}
	flushErr := prod.Flush(send)
	mu.Lock()
	defer mu.Unlock()
	if err = errors.Join(err, failed, flushErr); err == nil && interrupted {
		err = errInterrupted
	}
	return stored, err
}

// readLines sends the lines of r, without their line ends, on chunks: as
// many as r holds already, at most 1024 at a time. It returns r's error, nil
// at its end, or nil when stop is closed.
func readLines(r *bufio.Reader, chunks chan<- [][]byte, stop <-chan struct{}) error {
	for {
		var (
			chunk [][]byte
			err   error
		)
		for len(chunk) < 1024 {
			var line []byte
			line, err = r.ReadBytes('\n')
			if len(line) > 0 {
				chunk = append(chunk, bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r")))
			}
			if err != nil {
				break
			}
			// Only what is buffered: a read that blocks would hold back
			// the lines read so far.
			if buffered, _ := r.Peek(r.Buffered()); bytes.IndexByte(buffered, '\n') < 0 {
				break
			}
		}
		if len(chunk) > 0 {
			select {
			case chunks <- chunk:
			case <-stop:
				return nil
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
