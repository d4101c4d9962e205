package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Reads whose lookup of a segment loses it to DeleteRecords (or retention)
// in the moment between finding it in the partition's segment list and
// taking a reference to it: the segment, unlisted and released meanwhile,
// cannot be acquired. The offset the read wanted was inside the log when
// the read checked it; the read goes on from the new log start, as it does
// when the segment is unlisted a moment earlier (the lookup then finds the
// next segment) or later (the read holds the old segment and finishes on
// its bytes), never failing with ErrOffsetOutOfRange.

// droppedAtLookup makes a log of topic "t" whose partition 0 holds 100
// records in several segments, and arms a hook that, at the first lookup
// of a segment of that partition, deletes the records below the third
// segment, whose base it returns.
func droppedAtLookup(t *testing.T) (*eventlog.Log, *eventlog.Partition, int64, *atomic.Bool) {
	t.Helper()
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys, SegmentBytes: 1024})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}))
	p := partition(t, l, "t", 0)
	for i := range 100 {
		putKV(t, p, "k", fmt.Append(nil, i))
	}
	segs := segmentBases(t, fsys, "/d/topics/t/0")
	require.Greater(t, len(segs), 3, "several segments")
	cut := segs[2]
	var ran atomic.Bool
	eventlog.SetSegmentHook(l, func(tp eventlog.TopicPartition) {
		if tp == tpart(0) && ran.CompareAndSwap(false, true) {
			start, err := l.DeleteRecords(ctx, "t", 0, cut)
			require.NoError(t, err)
			require.Equal(t, cut, start)
		}
	})
	return l, p, cut, &ran
}

func TestReadsGoOnWhenSegmentDroppedAtLookup(t *testing.T) {
	readers := map[string]func(t *testing.T, l *eventlog.Log, p *eventlog.Partition) ([]int64, error){
		"Partition.Views": func(t *testing.T, _ *eventlog.Log, p *eventlog.Partition) (offsets []int64, err error) {
			for v, err := range p.Views(0) {
				if err != nil {
					return offsets, err
				}
				offsets = append(offsets, v.Offset)
			}
			return offsets, nil
		},
		"Partition.Read": func(t *testing.T, _ *eventlog.Log, p *eventlog.Partition) (offsets []int64, err error) {
			for from := int64(0); from < p.HighWatermark(); {
				recs, err := p.Read(from, 1<<20)
				if err != nil {
					return offsets, err
				}
				for _, r := range recs {
					offsets = append(offsets, r.Offset)
				}
				from = recs[len(recs)-1].Offset + 1
			}
			return offsets, nil
		},
		"Partition.ReadBatches": func(t *testing.T, _ *eventlog.Log, p *eventlog.Partition) (offsets []int64, err error) {
			batches, release, err := p.ReadBatches(0, 1<<20)
			defer release()
			if err != nil {
				return nil, err
			}
			require.GreaterOrEqual(t, len(batches), 8)
			return []int64{int64(binary.BigEndian.Uint64(batches))}, nil // the first batch's base offset
		},
		"Log.Replay": func(t *testing.T, l *eventlog.Log, _ *eventlog.Partition) (offsets []int64, err error) {
			err = l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
				offsets = append(offsets, v.Offset)
				return nil
			})
			return offsets, err
		},
		"Consumer.Poll": func(t *testing.T, l *eventlog.Log, p *eventlog.Partition) (offsets []int64, err error) {
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
			for len(offsets) == 0 || offsets[len(offsets)-1] < p.HighWatermark()-1 {
				recs, err := c.Poll(ctx)
				if err != nil {
					return offsets, err
				}
				for _, r := range recs {
					offsets = append(offsets, r.Offset)
				}
			}
			return offsets, nil
		},
		"Consumer.ReadToEnd": func(t *testing.T, l *eventlog.Log, _ *eventlog.Partition) (offsets []int64, err error) {
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
			for r, err := range c.ReadToEnd(ctx) {
				if err != nil {
					return offsets, err
				}
				offsets = append(offsets, r.Offset)
			}
			return offsets, nil
		},
		"Consumer.ViewsToEnd": func(t *testing.T, l *eventlog.Log, _ *eventlog.Partition) (offsets []int64, err error) {
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
			for v, err := range c.ViewsToEnd(ctx) {
				if err != nil {
					return offsets, err
				}
				offsets = append(offsets, v.Offset)
			}
			return offsets, nil
		},
		"TypedConsumer.ReadToEnd": func(t *testing.T, l *eventlog.Log, _ *eventlog.Partition) (offsets []int64, err error) {
			c := newTestConsumer(t, l, &eventlog.ConsumerOptions{AutoOffsetReset: eventlog.OffsetResetEarliest}, tpart(0))
			tc := eventlog.NewTypedConsumer(c, eventlog.StringSerde{}, eventlog.BytesSerde{})
			for r, err := range tc.ReadToEnd(ctx) {
				if err != nil {
					return offsets, err
				}
				offsets = append(offsets, r.Offset)
			}
			return offsets, nil
		},
	}
	for name, read := range readers {
		t.Run(name, func(t *testing.T) {
			l, p, cut, ran := droppedAtLookup(t)
			offsets, err := read(t, l, p)
			require.NoError(t, err)
			require.True(t, ran.Load(), "the hook deleted the records under a lookup")
			require.NotEmpty(t, offsets)
			assert.Equal(t, cut, offsets[0], "from the new log start")
			if name != "Partition.ReadBatches" {
				assert.Equal(t, p.HighWatermark()-1, offsets[len(offsets)-1], "to the end")
				assert.Len(t, offsets, int(p.HighWatermark()-cut), "every record left")
			}
		})
	}
}
