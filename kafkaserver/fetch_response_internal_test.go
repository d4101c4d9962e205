package kafkaserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchCase is a Fetch response to encode both ways.
type fetchCase struct {
	errorCode int16
	topics    []fetchCaseTopic
}

type fetchCaseTopic struct {
	name       string
	partitions []fetchCasePartition
}

type fetchCasePartition struct {
	id                int32
	errorCode         int16
	hw, lso, logStart int64
	runs              [][]byte // the record batches, in runs as read from segments
}

// fetchCases cover empty and top-level error responses, several topics,
// partitions with errors or without records, and partitions whose records
// come in several runs.
func fetchCases() []fetchCase {
	run := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	return []fetchCase{
		{},
		{errorCode: kerr.FetchSessionIDNotFound.Code},
		{topics: []fetchCaseTopic{
			{name: "orders", partitions: []fetchCasePartition{
				{id: 0, hw: 10, lso: 10, logStart: 2, runs: [][]byte{run(100, 1)}},
				{id: 3, errorCode: kerr.OffsetOutOfRange.Code, hw: 7, lso: 7},
				{id: 1, hw: 1 << 40, lso: 1 << 40, logStart: 1 << 39, runs: [][]byte{run(300, 2), run(1, 3), run(200, 4)}},
			}},
			{name: "", partitions: nil},
			{name: "payments-ü", partitions: []fetchCasePartition{{id: 7, runs: [][]byte{run(70, 5)}}}},
		}},
	}
}

// build fills r with c.
func (c fetchCase) build(r *fetchResponse, version int16) {
	r.reset(version)
	r.errorCode = c.errorCode
	for _, ct := range c.topics {
		t := r.addTopic(ct.name)
		for _, cp := range ct.partitions {
			p := t.addPartition(cp.id)
			p.errorCode, p.highWatermark, p.lastStableOffset, p.logStartOffset = cp.errorCode, cp.hw, cp.lso, cp.logStart
			for _, run := range cp.runs {
				p.batches = append(p.batches, run)
				p.size += int64(len(run))
			}
		}
	}
}

// kmsg returns c as kmsg builds it.
func (c fetchCase) kmsg(version int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ErrorCode = c.errorCode
	for _, ct := range c.topics {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = ct.name
		for _, cp := range ct.partitions {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode, p.HighWatermark, p.LastStableOffset = cp.id, cp.errorCode, cp.hw, cp.lso
			if version >= 5 {
				p.LogStartOffset = cp.logStart
			}
			p.PreferredReadReplica = -1
			p.RecordBatches = bytes.Join(cp.runs, nil)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// framed returns the whole response to correlation ID 42, as
// writeResponse frames kmsg's encoding.
func framed(resp *kmsg.FetchResponse) []byte {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint32(b, 42)
	if resp.IsFlexible() {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// TestFetchResponseMatchesKmsg encodes every case in every version the
// server advertises, and checks the bytes against kmsg's encoding of the
// same response, and kmsg's decoding of them against the case.
func TestFetchResponseMatchesKmsg(t *testing.T) {
	var r fetchResponse // reused throughout, as a connection reuses it
	for version := int16(fetchMinVersion); version <= fetchMaxVersion; version++ {
		for i, c := range fetchCases() {
			t.Run(fmt.Sprintf("v%d/case%d", version, i), func(t *testing.T) {
				c.build(&r, version)
				framing, splices := r.frame([]byte("ignored"), 42, nil)
				framing = framing[len("ignored"):]
				for j := range splices {
					splices[j].at -= len("ignored")
				}
				got := gather(nil, framing, splices)
				assert.Equal(t, got, bytes.Join(pieces(nil, framing, splices), nil), "writev writes what gather does")
				want := c.kmsg(version)
				require.Equal(t, framed(want), got, "the bytes kmsg encodes")

				require.EqualValues(t, len(got)-4, binary.BigEndian.Uint32(got))
				require.EqualValues(t, 42, binary.BigEndian.Uint32(got[4:]))
				body := got[8:]
				if version >= fetchFlexibleVersion {
					require.Zero(t, body[0], "header tags")
					body = body[1:]
				}
				dec := kmsg.NewPtrFetchResponse()
				dec.Version = version
				require.NoError(t, dec.ReadFrom(body))
				if version >= 7 {
					assert.Equal(t, c.errorCode, dec.ErrorCode)
				}
				require.Len(t, dec.Topics, len(c.topics))
				for ti, ct := range c.topics {
					dt := dec.Topics[ti]
					assert.Equal(t, ct.name, dt.Topic)
					require.Len(t, dt.Partitions, len(ct.partitions))
					for pi, cp := range ct.partitions {
						dp := dt.Partitions[pi]
						assert.Equal(t, cp.id, dp.Partition)
						assert.Equal(t, cp.errorCode, dp.ErrorCode)
						assert.Equal(t, cp.hw, dp.HighWatermark)
						assert.Equal(t, cp.lso, dp.LastStableOffset)
						if version >= 5 {
							assert.Equal(t, cp.logStart, dp.LogStartOffset)
						}
						if version >= 11 {
							assert.EqualValues(t, -1, dp.PreferredReadReplica)
						}
						assert.Nil(t, dp.AbortedTransactions)
						assert.NotNil(t, dp.RecordBatches, "never null")
						assert.Equal(t, bytes.Join(cp.runs, nil), []byte(dp.RecordBatches))
					}
				}
			})
		}
	}
}

// TestFetchResponseReset checks that a reused response holds nothing of
// the one before, mapped bytes least of all.
func TestFetchResponseReset(t *testing.T) {
	cases := fetchCases()
	var r fetchResponse
	cases[2].build(&r, 12)
	held := r.topics[0].partitions[2].batches[:3]
	r.reset(12)
	for _, b := range held {
		assert.Nil(t, b, "no reference to mapped bytes after reset")
	}
	small := fetchCase{topics: []fetchCaseTopic{{name: "x", partitions: []fetchCasePartition{{id: 9, hw: 1, lso: 1}}}}}
	small.build(&r, 12)
	framing, splices := r.frame(nil, 42, nil)
	assert.Empty(t, splices)
	assert.Equal(t, framed(small.kmsg(12)), framing)
}
