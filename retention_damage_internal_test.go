package eventlog

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// newestPastDamage bounds the newest timestamp of the bytes of a segment
// from damage on wherever one damaged field or a cut end leaves that
// knowable, and says so where it does not.
func TestNewestPastDamage(t *testing.T) {
	at := func(ms int) time.Time { return testTime.Add(time.Duration(ms) * time.Millisecond) }
	batch := func(base int64, stamps ...int) []byte {
		var recs []Record
		for _, ms := range stamps {
			recs = append(recs, Record{Value: []byte("value"), Timestamp: at(ms)})
		}
		b := encodeBatch(t, recs, CompressionNone)
		setBaseOffset(b, base)
		return b
	}
	b0, b1, b2 := batch(0, 0, 5), batch(2, 10, 50), batch(4, 20)
	good := slices.Concat(b0, b1, b2)
	pos := int64(len(b0)) // where the damage is met
	before := testTime.Add(5 * time.Millisecond).UnixMilli()
	newest := at(50).UnixMilli()
	damaged := func(change func(b []byte) []byte) []byte { return change(slices.Clone(good)) }

	for _, c := range []struct {
		name    string
		data    []byte
		bounded bool
		atLeast int64 // the bound is at least this, when bounded
	}{
		{"max timestamp lowered", damaged(func(b []byte) []byte {
			binary.BigEndian.PutUint64(b[pos+batchMaxTimestampPos:], uint64(at(10).UnixMilli()))
			return b
		}), true, newest},
		{"record damaged", damaged(func(b []byte) []byte { b[int64(len(b0)+len(b1))-2] ^= 0xff; return b }), true, newest},
		{"last batch cut", good[:len(good)-3], true, newest},
		{"batch before the last cut", good[:len(b0)+len(b1)-3], false, 0},
		{"garbage", damaged(func(b []byte) []byte { b[pos+batchMagicPos] = 7; return b }), false, 0},
		{"zeros", damaged(func(b []byte) []byte { clear(b[pos:]); return b }), true, before},
		{"cut in a header", good[:pos+batchHeaderSize-1], true, before},
	} {
		got, bounded := newestPastDamage(c.data, pos, before, 5, testLimit)
		if assert.Equal(t, c.bounded, bounded, c.name) && bounded {
			assert.GreaterOrEqual(t, got, c.atLeast, c.name)
		}
	}
}
