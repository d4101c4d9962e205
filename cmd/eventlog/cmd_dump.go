package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/eventlog/eventlog"
)

// recordFlags are the flags of the commands that print records.
type recordFlags struct {
	partition                  int32
	encoding, keyEnc, valueEnc string
}

func (f *recordFlags) register(fs *pflag.FlagSet) {
	fs.Int32VarP(&f.partition, "partition", "p", -1, "only this partition (-1: all, in order)")
	fs.StringVar(&f.encoding, "encoding", "utf8", "how keys, values and header values print: utf8, hex or base64")
	fs.StringVar(&f.keyEnc, "key-encoding", "", "how keys print (default: --encoding)")
	fs.StringVar(&f.valueEnc, "value-encoding", "", "how values and header values print (default: --encoding)")
}

// printer returns the record printer the flags ask for, or a usage error
// for flags that are wrong.
func (f *recordFlags) printer(w io.Writer, asJSON bool) (*recordPrinter, error) {
	if f.partition < -1 {
		return nil, usageError("--partition %d is negative: give a partition, or -1 for all", f.partition)
	}
	enc, err := parseEncoding(f.encoding)
	if err != nil {
		return nil, err
	}
	keys, values := enc, enc
	if f.keyEnc != "" {
		if keys, err = parseEncoding(f.keyEnc); err != nil {
			return nil, err
		}
	}
	if f.valueEnc != "" {
		if values, err = parseEncoding(f.valueEnc); err != nil {
			return nil, err
		}
	}
	return newRecordPrinter(w, asJSON, keys, values), nil
}

// openPartitions opens the log read-only and returns it, for the caller
// to close, with the partitions of topic the flags select.
func (f *recordFlags) openPartitions(a *app, topic string) (*eventlog.Log, []*eventlog.Partition, error) {
	l, err := a.openReadOnly()
	if err != nil {
		return nil, nil, err
	}
	parts, err := f.partitions(l, topic)
	if err != nil {
		return nil, nil, errors.Join(err, l.Close())
	}
	return l, parts, nil
}

// partitions returns the partitions of topic the flags select.
func (f *recordFlags) partitions(l *eventlog.Log, topic string) ([]*eventlog.Partition, error) {
	cfg, err := l.TopicConfig(topic)
	if err != nil {
		return nil, err
	}
	var out []*eventlog.Partition
	for id := range int32(cfg.Partitions) {
		if f.partition >= 0 && id != f.partition {
			continue
		}
		p, err := l.Partition(topic, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, f.partition, cfg.Partitions)
	}
	return out, nil
}

func (a *app) dumpCommand() *cobra.Command {
	var (
		rf       recordFlags
		offset   int64
		fromTime string
		limit    int64
		batches  bool
		records  bool
	)
	cmd := &cobra.Command{
		Use:   "dump TOPIC",
		Short: "Print the records of a topic, or how its batches are stored",
		Long: `Print the records of a topic's partitions, from the log start, an offset or
a time, as text lines or (with --json) JSON lines: every record the log
holds, those of aborted transactions and of transactions still open
included (read_uncommitted).

With --batches, print each stored RecordBatch's header instead, as
kafka-dump-log does: file and byte position, offsets, count, timestamps,
compression, CRC, producer fields. --records adds each batch's records
(kafka-dump-log's --print-data-log), but for those before the log start
in the batch that holds it, which DeleteRecords deleted; and the record of
each control batch: the transaction marker, COMMIT or ABORT, and its
coordinator epoch.`,
		Args: args(1, 1),
		RunE: a.runE(func(cmd *cobra.Command, names []string) (err error) {
			if cmd.Flags().Changed("offset") && fromTime != "" {
				return usageError("--offset and --from-time are exclusive")
			}
			if records && !batches {
				return usageError("--records goes with --batches")
			}
			if offset < 0 {
				return usageError("--offset %d is negative", offset)
			}
			if limit < 0 {
				return usageError("--max %d is negative", limit)
			}
			out := bufio.NewWriterSize(a.stdout, 64<<10)
			printer, err := rf.printer(out, a.json)
			if err != nil {
				return err
			}
			var from timeFlag
			if fromTime != "" {
				if from.t, err = parseTime(fromTime); err != nil {
					return usageError("--from-time: %v", err)
				}
				from.set = true
			}
			if limit == 0 {
				limit = math.MaxInt64
			}
			l, parts, err := rf.openPartitions(a, names[0])
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			starts := make([]int64, len(parts))
			var total int64
			for i, p := range parts {
				if starts[i], err = startOffset(l, p, cmd.Flags().Changed("offset"), offset, from); err != nil {
					return err
				}
				total += min(p.HighWatermark()-starts[i], limit)
			}
			unit := "records"
			if batches {
				total, unit = 0, "batches" // how many is not known up front
			}
			d := dumper{log: l, ctx: cmd.Context(), printer: printer, out: out, asJSON: a.json, max: limit,
				progress: a.newProgress("dump", unit, total, true)}
			defer d.progress.done()
			for i, p := range parts {
				if batches {
					err = d.batches(p, starts[i], records)
				} else {
					err = d.records(p, starts[i])
				}
				if err != nil {
					_ = out.Flush() // what was printed before the error shows
					return err
				}
			}
			return out.Flush()
		}),
	}
	f := cmd.Flags()
	rf.register(f)
	f.Int64Var(&offset, "offset", 0, "start at this offset (default: the log start offset)")
	f.StringVar(&fromTime, "from-time", "", "start at the first record at or after this time (RFC 3339 or Unix milliseconds)")
	f.Int64VarP(&limit, "max", "n", 0, "print at most this many records, or batches, per partition (0: all)")
	f.BoolVar(&batches, "batches", false, "print batch headers, as kafka-dump-log does")
	f.BoolVar(&records, "records", false, "with --batches, print the records of each batch too, and the transaction marker of each control batch")
	return cmd
}

// timeFlag is an optional time.
type timeFlag struct {
	t   time.Time
	set bool
}

// startOffset is where a dump of p, a partition of the read-only Log l,
// starts.
func startOffset(l *eventlog.Log, p *eventlog.Partition, hasOffset bool, offset int64, from timeFlag) (int64, error) {
	switch {
	case hasOffset:
		return offset, nil
	case from.set:
		var (
			o     int64
			found bool
		)
		err := againIfGone(l, func() (err error) {
			o, found, err = p.OffsetForTime(from.t)
			return err
		})
		if err != nil || !found {
			return p.HighWatermark(), err
		}
		return o, nil
	}
	return p.LogStartOffset(), nil
}

// dumper prints partitions for dump.
type dumper struct {
	log      *eventlog.Log   // read-only: refreshed when a segment file is gone
	ctx      context.Context // Ctrl-C ends it: the dump stops at the next record
	printer  *recordPrinter
	out      io.Writer
	asJSON   bool
	max      int64
	progress *progress
	printed  int64 // records or batches, for the progress line
	rec      outRecord
}

// records prints the records of p from offset.
func (d *dumper) records(p *eventlog.Partition, offset int64) error {
	n, retried := int64(0), int64(-1)
	for {
		err := d.recordsFrom(p, &offset, &n)
		if err == nil {
			return nil
		}
		if offset, err = retryGone(d.log, p, err, offset, &retried); err != nil {
			return err
		}
	}
}

// recordsFrom prints the records of p from *offset, moving *offset past
// each one printed and counting it in *n, until d.max are printed.
func (d *dumper) recordsFrom(p *eventlog.Partition, offset, n *int64) error {
	for v, err := range p.Views(*offset) {
		if err != nil {
			return err
		}
		if *n == d.max {
			break
		}
		if err := d.ctx.Err(); err != nil {
			return err
		}
		*n++
		d.rec.fromView(v)
		if err := d.printer.print(&d.rec); err != nil {
			return err
		}
		*offset = v.Offset + 1
		if d.printed++; d.printed%1024 == 0 {
			d.progress.update(d.printed)
		}
	}
	return nil
}

// retryGone decides whether a read of p from offset that failed with err
// goes on, and from where. A read-only Log opens a segment file when it
// first reads it; the process writing the log may have deleted the file
// since the Log listed it — retention and DeleteRecords delete whole
// segments, a compaction swap replaces them — and the read fails with
// fs.ErrNotExist. Then l is refreshed, which lists the segments again,
// and the read goes on from offset, or from the new log start if the
// records there are gone. An offset is retried once: *retried is the last
// one retried.
func retryGone(l *eventlog.Log, p *eventlog.Partition, err error, offset int64, retried *int64) (int64, error) {
	if !errors.Is(err, fs.ErrNotExist) || l == nil || *retried == offset {
		return 0, err
	}
	*retried = offset
	if rerr := l.Refresh(); rerr != nil {
		return 0, errors.Join(err, rerr)
	}
	return max(offset, p.LogStartOffset()), nil
}

// jsonBatch is a batch header in JSON.
type jsonBatch struct {
	Topic          string        `json:"topic"`
	Partition      int32         `json:"partition"`
	Path           string        `json:"path"`
	Position       int64         `json:"position"`
	Size           int64         `json:"size"`
	BaseOffset     int64         `json:"base_offset"`
	LastOffset     int64         `json:"last_offset"`
	Count          int           `json:"count"`
	FirstTimestamp *string       `json:"first_timestamp"`
	MaxTimestamp   string        `json:"max_timestamp"`
	DeleteHorizon  *string       `json:"delete_horizon,omitempty"`
	TimestampType  string        `json:"timestamp_type"`
	Compression    string        `json:"compression"`
	CRC            uint32        `json:"crc"`
	LeaderEpoch    int32         `json:"partition_leader_epoch"`
	ProducerID     int64         `json:"producer_id"`
	ProducerEpoch  int16         `json:"producer_epoch"`
	BaseSequence   int32         `json:"base_sequence"`
	Transactional  bool          `json:"transactional"`
	Control        bool          `json:"control"`
	Records        []*jsonRecord `json:"records,omitempty"`
	// Marker is the record of a control batch, with --records.
	Marker *jsonControl `json:"marker,omitempty"`
}

// batches prints the batch headers of p from the batch holding offset,
// with their records if records is set.
func (d *dumper) batches(p *eventlog.Partition, offset int64, records bool) error {
	path := ""
	n, retried := int64(0), int64(-1)
	for {
		err := d.batchesFrom(p, &offset, &n, &path, records)
		if err == nil {
			return nil
		}
		if offset, err = retryGone(d.log, p, err, offset, &retried); err != nil {
			return err
		}
	}
}

// batchesFrom prints the batches of p from the one holding *offset,
// moving *offset past each one printed and counting it in *n, until d.max
// are printed. *path is the file of the last batch printed.
func (d *dumper) batchesFrom(p *eventlog.Partition, offset, n *int64, path *string, records bool) error {
	for b, err := range p.Batches(*offset) {
		if err != nil {
			return err
		}
		if *n == d.max {
			break
		}
		if err := d.ctx.Err(); err != nil {
			return err
		}
		var (
			recs    []outRecord
			control *eventlog.ControlRecord
		)
		switch {
		case records && b.Control:
			control = batchControl(p, &b)
		case records:
			if recs, err = batchRecords(p, &b); err != nil {
				return err
			}
		}
		*n++
		if d.asJSON {
			j := d.jsonBatch(p, &b, recs)
			if control != nil {
				j.Marker = controlJSON(control)
			}
			if err := d.printer.enc.Encode(j); err != nil {
				return err
			}
		} else {
			if b.Path != *path {
				*path = b.Path
				fmt.Fprintf(d.out, "Dumping %s\n", b.Path)
			}
			d.printBatch(&b, recs)
			if control != nil {
				fmt.Fprintln(d.out, controlText(control, timestampType(&b)))
			}
		}
		*offset = b.LastOffset + 1
		if d.printed++; d.printed%64 == 0 {
			d.progress.update(d.printed)
		}
	}
	return nil
}

// batchRecords returns copies of the records of batch b: those from the
// log start on, for DeleteRecords can move the log start inside a batch,
// and the records before it are deleted, and no longer read.
func batchRecords(p *eventlog.Partition, b *eventlog.BatchInfo) ([]outRecord, error) {
	var out []outRecord
	for v, err := range p.Views(max(b.BaseOffset, p.LogStartOffset())) {
		if err != nil {
			return nil, err
		}
		if v.Offset > b.LastOffset {
			break
		}
		r := v.Clone()
		out = append(out, fromRecord(&r))
	}
	return out, nil
}

func timestampType(b *eventlog.BatchInfo) string {
	if b.LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// printBatch prints a batch as kafka-dump-log does, and its records.
func (d *dumper) printBatch(b *eventlog.BatchInfo, recs []outRecord) {
	horizon := "OptionalLong.empty"
	if !b.DeleteHorizon.IsZero() {
		horizon = fmt.Sprint(b.DeleteHorizon.UnixMilli())
	}
	lastSeq := int32(-1)
	if b.BaseSequence >= 0 {
		lastSeq = b.BaseSequence + int32(b.LastOffset-b.BaseOffset)
	}
	fmt.Fprintf(d.out, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d "+
		"partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: %s position: %d %s: %d size: %d magic: 2 "+
		"compresscodec: %s crc: %d isvalid: true\n",
		b.BaseOffset, b.LastOffset, b.Records, b.BaseSequence, lastSeq, b.ProducerID, b.ProducerEpoch,
		b.LeaderEpoch, b.Transactional, b.Control, horizon, b.Pos, timestampType(b), b.MaxTimestamp.UnixMilli(), b.Size,
		b.Compression, b.CRC)
	p := d.printer
	for _, r := range recs {
		keys := make([]string, len(r.headers))
		for i, h := range r.headers {
			keys[i] = h.Key
		}
		fmt.Fprintf(d.out, "| offset: %d %s: %d keySize: %d valueSize: %d headerKeys: %q key: %s payload: %s\n",
			r.offset, timestampType(b), r.timestamp.UnixMilli(), size(r.key), size(r.value), keys, p.keys.text(r.key), p.values.text(r.value))
	}
}

// size is Kafka's length of a key or value: -1 for null.
func size(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

func (d *dumper) jsonBatch(p *eventlog.Partition, b *eventlog.BatchInfo, recs []outRecord) jsonBatch {
	j := jsonBatch{Topic: p.Topic(), Partition: p.ID(), Path: b.Path, Position: b.Pos, Size: b.Size,
		BaseOffset: b.BaseOffset, LastOffset: b.LastOffset, Count: b.Records, MaxTimestamp: formatTime(b.MaxTimestamp),
		TimestampType: timestampType(b), Compression: b.Compression.String(), CRC: b.CRC, LeaderEpoch: b.LeaderEpoch,
		ProducerID: b.ProducerID, ProducerEpoch: b.ProducerEpoch, BaseSequence: b.BaseSequence,
		Transactional: b.Transactional, Control: b.Control}
	if !b.FirstTimestamp.IsZero() {
		s := formatTime(b.FirstTimestamp)
		j.FirstTimestamp = &s
	}
	if !b.DeleteHorizon.IsZero() {
		s := formatTime(b.DeleteHorizon)
		j.DeleteHorizon = &s
	}
	for i := range recs {
		j.Records = append(j.Records, d.printer.jsonRecord(&recs[i]))
	}
	return j
}
