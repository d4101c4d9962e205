package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/eventlog/eventlog"
)

// stickyWriter writes to w until a write fails, and then returns that
// error for every later write, as bufio.Writer does: run checks err once
// the command is done, so that output that could not be written (a full
// disk, a closed pipe) fails the command even where a Fprintf's error is
// not looked at. It is not safe for concurrent use: the commands write
// their output from one goroutine.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// timeLayout is how times are printed: UTC, RFC 3339 with milliseconds,
// Kafka's precision.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a time given as RFC 3339 or as Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 (2006-01-02T15:04:05Z) nor Unix milliseconds", s)
	}
	return t, nil
}

// name returns an identifier that may be any string — a group, member,
// client, host or assignor name — for text output: as it is when each of
// its characters is printable, else quoted as a Go string, as keys and
// values are, so that a newline, a tab, an escape sequence or a byte that
// is not UTF-8 stays visible and on its line, and cannot disturb a table
// (0xff is text/tabwriter's escape character).
func name(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// encoding turns keys, values and header values into text.
type encoding string

const (
	encodingUTF8   encoding = "utf8"
	encodingHex    encoding = "hex"
	encodingBase64 encoding = "base64"
)

func parseEncoding(s string) (encoding, error) {
	switch e := encoding(s); e {
	case encodingUTF8, encodingHex, encodingBase64:
		return e, nil
	}
	return "", usageError("encoding %q is not utf8, hex or base64", s)
}

// text encodes b for a text line: quoted as a Go string for utf8 (so that
// a value holding a newline or invalid UTF-8 stays on its line and can be
// read back), bare for hex and base64, and null for Kafka's null.
func (e encoding) text(b []byte) string {
	if b == nil {
		return "null"
	}
	switch e {
	case encodingHex:
		return hex.EncodeToString(b)
	case encodingBase64:
		return base64.StdEncoding.EncodeToString(b)
	}
	return strconv.Quote(string(b))
}

// json encodes b for JSON: a string, or nil for Kafka's null. With utf8,
// invalid UTF-8 shows as U+FFFD; use hex or base64 for binary data.
func (e encoding) json(b []byte) *string {
	if b == nil {
		return nil
	}
	var s string
	switch e {
	case encodingHex:
		s = hex.EncodeToString(b)
	case encodingBase64:
		s = base64.StdEncoding.EncodeToString(b)
	default:
		s = strings.ToValidUTF8(string(b), string(utf8.RuneError))
	}
	return &s
}

// recordPrinter prints records as text lines or JSON lines.
type recordPrinter struct {
	w            io.Writer
	json         bool
	keys, values encoding
	enc          *json.Encoder
}

func newRecordPrinter(w io.Writer, asJSON bool, keys, values encoding) *recordPrinter {
	p := &recordPrinter{w: w, json: asJSON, keys: keys, values: values}
	if asJSON {
		p.enc = json.NewEncoder(w)
	}
	return p
}

// jsonRecord is a record in JSON.
type jsonRecord struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp string       `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   []jsonHeader `json:"headers,omitempty"`
}

type jsonHeader struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// outRecord is a record to print: a copy, or parts of a view that are
// valid only while it is printed.
type outRecord struct {
	topic      string
	partition  int32
	offset     int64
	timestamp  time.Time
	key, value []byte
	headers    []eventlog.Header
}

// fromView fills r from v, reusing r's headers; r then aliases v.
func (r *outRecord) fromView(v *eventlog.RecordView) {
	*r = outRecord{topic: v.Topic, partition: v.Partition, offset: v.Offset, timestamp: v.Timestamp(),
		key: v.Key, value: v.Value, headers: r.headers[:0]}
	for k, hv := range v.Headers() {
		r.headers = append(r.headers, eventlog.Header{Key: k, Value: hv})
	}
}

func fromRecord(rec *eventlog.Record) outRecord {
	return outRecord{topic: rec.Topic, partition: rec.Partition, offset: rec.Offset, timestamp: rec.Timestamp,
		key: rec.Key, value: rec.Value, headers: rec.Headers}
}

// jsonRecord returns r as it prints in JSON.
func (p *recordPrinter) jsonRecord(r *outRecord) *jsonRecord {
	j := &jsonRecord{Topic: r.topic, Partition: r.partition, Offset: r.offset, Timestamp: formatTime(r.timestamp),
		Key: p.keys.json(r.key), Value: p.values.json(r.value)}
	for _, h := range r.headers {
		j.Headers = append(j.Headers, jsonHeader{Key: h.Key, Value: p.values.json(h.Value)})
	}
	return j
}

// print prints one record.
func (p *recordPrinter) print(r *outRecord) error {
	if p.json {
		return p.enc.Encode(p.jsonRecord(r))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%d offset=%d time=%s key=%s value=%s", r.topic, r.partition, r.offset,
		formatTime(r.timestamp), p.keys.text(r.key), p.values.text(r.value))
	if len(r.headers) > 0 {
		b.WriteString(" headers=[")
		for i, h := range r.headers {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%s", strconv.Quote(h.Key), p.values.text(h.Value))
		}
		b.WriteByte(']')
	}
	b.WriteByte('\n')
	_, err := io.WriteString(p.w, b.String())
	return err
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(toAny(header)...)
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error { return t.tw.Flush() }
