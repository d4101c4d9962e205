package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Append the lines of standard input to a topic, one record each",
		Long: `Append the lines of standard input to a topic, one record per line, as
kcat -P does. With --key-separator, a line's key is what comes before the
first separator and its value what follows; a line without the separator
has a null key. Keyed records go to the partition Kafka's partitioner picks.`,
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
			l, err := a.openWritable(false, nil)
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
			n, err := produceLines(cmd, prod, bufio.NewReaderSize(a.stdin, 64<<10), eventlog.Record{
				Topic: topic, Partition: partition, Timestamp: rt.Timestamp, Headers: hs}, keySep)
			if err = errors.Join(err, prod.Close()); err != nil {
				return fmt.Errorf("after %d records: %w", n, err)
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
	f.StringVar(&timestamp, "timestamp", "", "the records' timestamp, RFC 3339 or Unix milliseconds (default: now)")
	f.StringVar(&compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	return cmd
}

// produceLines sends each line of r as a record made from template and
// returns how many the log stored; the first failure stops it.
func produceLines(cmd *cobra.Command, prod *eventlog.Producer, r *bufio.Reader, template eventlog.Record, keySep string) (int64, error) {
	ctx := cmd.Context()
	var (
		mu     sync.Mutex
		stored int64
		failed error
	)
	done := func(_ eventlog.RecordMetadata, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = errors.Join(failed, err)
		} else {
			stored++
		}
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			rec := template
			rec.Value = line
			if keySep != "" {
				if k, v, ok := bytes.Cut(line, []byte(keySep)); ok {
					rec.Key, rec.Value = k, v
				}
			}
			prod.SendAsync(ctx, rec, done)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return stored, err
		}
		mu.Lock()
		stop := failed != nil
		mu.Unlock()
		if stop {
			break
		}
	}
	err := prod.Flush(ctx)
	mu.Lock()
	defer mu.Unlock()
	return stored, errors.Join(failed, err)
}
