package kafkaserver

import (
	"encoding/binary"
	"net"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kbin"
)

// A Fetch response is the one response not encoded by kmsg: its record
// batches are written to the socket straight from the segments' mappings,
// with one writev of the framing and the mapped bytes, never copied into a
// buffer of the server's. The framing is encoded here, for the versions
// the server advertises (4 to 12; v12 is flexible); a test checks it
// against kmsg's encoding and decoding of every one of them.
//
//	response size:   int32, of what follows, record batches included
//	response header: correlation id int32 | [v12: tagged fields]
//	body:            throttle ms int32 | [v7+: error code int16, session id int32] |
//	                 topics array
//	topic:           name string | partitions array | [v12: tagged fields]
//	partition:       partition int32 | error code int16 | high watermark int64 |
//	                 last stable offset int64 | [v5+: log start offset int64] |
//	                 aborted transactions nullable array (null when none) |
//	                 [v11+: preferred read replica int32] |
//	                 record batches nullable bytes | [v12: tagged fields]
//	aborted txn:     producer id int64 | first offset int64 | [v12: tagged fields]
//	                 [v12: tagged fields of the body]
//
// Non-flexible versions give arrays an int32 length, strings an int16
// length and bytes an int32 length; v12 gives them a uvarint of length+1,
// 0 meaning null.

// Versions of Fetch the encoder writes.
const (
	fetchMinVersion      = 4
	fetchMaxVersion      = 12
	fetchFlexibleVersion = 12
)

// fetchResponse is a Fetch response being built. A connection keeps one
// and reuses its slices from request to request.
type fetchResponse struct {
	version   int16
	errorCode int16
	topics    []fetchTopic
}

// fetchTopic is a topic of a fetchResponse.
type fetchTopic struct {
	name       string
	partitions []fetchPartition
}

// fetchPartition is a partition of a fetchResponse.
type fetchPartition struct {
	partition        int32
	errorCode        int16
	highWatermark    int64
	lastStableOffset int64
	logStartOffset   int64
	// batches are runs of whole record batches, read in place from the
	// segments' mappings, one run per segment; they are written one
	// after the other as the partition's record batches.
	batches [][]byte
	size    int64 // of batches, in all
	// aborted are the aborted transactions of the batches served to a
	// read_committed fetch.
	aborted []eventlog.AbortedTransaction
}

// reset empties r for a response of version to reuse, dropping its
// references to mapped bytes.
func (r *fetchResponse) reset(version int16) {
	for i := range r.topics {
		ps := r.topics[i].partitions
		for j := range ps {
			clear(ps[j].batches)
		}
	}
	r.version, r.errorCode = version, 0
	r.topics = r.topics[:0]
}

// addTopic appends a topic to r and returns it, reusing the slices of an
// earlier response where there are some.
func (r *fetchResponse) addTopic(name string) *fetchTopic {
	if len(r.topics) < cap(r.topics) {
		r.topics = r.topics[:len(r.topics)+1]
	} else {
		r.topics = append(r.topics, fetchTopic{})
	}
	t := &r.topics[len(r.topics)-1]
	t.name, t.partitions = name, t.partitions[:0]
	return t
}

// addPartition appends a partition to t and returns it: without records,
// error or offsets (-1, as Kafka answers a partition it cannot read).
func (t *fetchTopic) addPartition(partition int32) *fetchPartition {
	if len(t.partitions) < cap(t.partitions) {
		t.partitions = t.partitions[:len(t.partitions)+1]
	} else {
		t.partitions = append(t.partitions, fetchPartition{})
	}
	p := &t.partitions[len(t.partitions)-1]
	*p = fetchPartition{partition: partition, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1, batches: p.batches[:0]}
	return p
}

// splice says where, in the encoded framing, a run of mapped batches goes.
type splice struct {
	at   int // position in the framing
	data []byte
}

// frame appends to dst the framing of r as the response to the request
// with correlation ID correlation — everything but the record batches,
// starting with the response's size — and appends to splices where each
// run of batches goes.
func (r *fetchResponse) frame(dst []byte, correlation int32, splices []splice) ([]byte, []splice) {
	flexible := r.version >= fetchFlexibleVersion
	be := binary.BigEndian
	start := len(dst)
	dst = be.AppendUint32(dst, 0) // size, set below
	dst = be.AppendUint32(dst, uint32(correlation))
	if flexible {
		dst = append(dst, 0) // no header tags
	}
	dst = be.AppendUint32(dst, 0) // throttle ms
	if r.version >= 7 {
		dst = be.AppendUint16(dst, uint16(r.errorCode))
		dst = be.AppendUint32(dst, 0) // session id: no sessions
	}
	var records int64
	dst = appendLength(dst, len(r.topics), flexible)
	for i := range r.topics {
		t := &r.topics[i]
		if flexible {
			dst = kbin.AppendUvarint(dst, uint32(len(t.name))+1)
		} else {
			dst = be.AppendUint16(dst, uint16(len(t.name)))
		}
		dst = append(dst, t.name...)
		dst = appendLength(dst, len(t.partitions), flexible)
		for j := range t.partitions {
			p := &t.partitions[j]
			dst = be.AppendUint32(dst, uint32(p.partition))
			dst = be.AppendUint16(dst, uint16(p.errorCode))
			dst = be.AppendUint64(dst, uint64(p.highWatermark))
			dst = be.AppendUint64(dst, uint64(p.lastStableOffset))
			if r.version >= 5 {
				dst = be.AppendUint64(dst, uint64(p.logStartOffset))
			}
			dst = appendAborted(dst, p.aborted, flexible)
			if r.version >= 11 {
				dst = be.AppendUint32(dst, 0xffffffff) // preferred read replica -1
			}
			dst = appendLength(dst, int(p.size), flexible) // never null: some clients reject it
			for _, b := range p.batches {
				splices = append(splices, splice{at: len(dst), data: b})
			}
			records += p.size
			if flexible {
				dst = append(dst, 0) // no tagged fields
			}
		}
		if flexible {
			dst = append(dst, 0)
		}
	}
	if flexible {
		dst = append(dst, 0)
	}
	be.PutUint32(dst[start:], uint32(int64(len(dst)-start-4)+records))
	return dst, splices
}

// appendLength appends the length of an array or of bytes.
func appendLength(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendUvarint(dst, uint32(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// appendAborted appends the aborted transactions of a partition, null
// when there are none.
func appendAborted(dst []byte, aborted []eventlog.AbortedTransaction, flexible bool) []byte {
	if len(aborted) == 0 {
		return appendNull(dst, flexible)
	}
	dst = appendLength(dst, len(aborted), flexible)
	for _, a := range aborted {
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
		if flexible {
			dst = append(dst, 0) // no tagged fields
		}
	}
	return dst
}

// appendNull appends a null array.
func appendNull(dst []byte, flexible bool) []byte {
	if flexible {
		return append(dst, 0)
	}
	return binary.BigEndian.AppendUint32(dst, 0xffffffff)
}

// gather appends to dst the framed response whose framing and splices
// frame returned, record batches included.
func gather(dst, framing []byte, splices []splice) []byte {
	prev := 0
	for _, s := range splices {
		dst = append(append(dst, framing[prev:s.at]...), s.data...)
		prev = s.at
	}
	return append(dst, framing[prev:]...)
}

// pieces appends to bufs the pieces of the framed response whose framing
// and splices frame returned, in order: the framing's and the batches'.
func pieces(bufs net.Buffers, framing []byte, splices []splice) net.Buffers {
	prev := 0
	for _, s := range splices {
		if s.at > prev {
			bufs = append(bufs, framing[prev:s.at])
		}
		bufs, prev = append(bufs, s.data), s.at
	}
	return append(bufs, framing[prev:])
}

// writeFetch writes a Fetch response. Over TCP its framing and its mapped
// batches go out in one writev; over TLS, which copies what it encrypts
// anyway, they are gathered into one buffer first.
func (c *conn) writeFetch(req *request, r *fetchResponse) error {
	framing, splices := r.frame(c.out[:0], req.correlation, c.splices[:0])
	var err error
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		bufs := pieces(c.iovecs[:0], framing, splices)
		c.iovecs = bufs
		_, err = bufs.WriteTo(c.nc) // consumes a copy of the slice header
		clear(c.iovecs)             // no references to mapped bytes
	default:
		gathered := gather(c.gathered[:0], framing, splices)
		_, err = c.nc.Write(gathered)
		c.gathered = retained(gathered)
	}
	clear(splices)
	c.splices = splices[:0]
	c.out = retained(framing)
	return err
}
