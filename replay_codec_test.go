package eventlog_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Every replay API reads compressed batches of every codec, with views
// poisoned as they expire: Replay, ReplayLatest, Partition.Views and
// Cursor, Consumer.ViewsToEnd and ReadToEnd.
func TestReplayOfCompressedTopics(t *testing.T) {
	for c := eventlog.CompressionNone; c <= eventlog.CompressionZstd; c++ {
		t.Run(fmt.Sprint(c), func(t *testing.T) {
			l := openLog(t, t.TempDir(), &eventlog.Options{PoisonViews: true, SegmentBytes: 16 << 10})
			require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, Durability: eventlog.DurabilityOS}))
			var want []string
			model := map[string][]byte{}
			for id := range int32(2) {
				p := partition(t, l, "t", id)
				for b := range 20 {
					recs := make([]eventlog.Record, 30)
					for i := range recs {
						key := fmt.Sprintf("k%d", (b*30+i)%45)
						var value []byte
						switch {
						case i%11 == 10: // a tombstone
						case i == 3:
							value = bytes.Repeat([]byte{byte(b)}, 3000) // large
						default:
							value = fmt.Appendf(nil, "p%d-b%d-r%d", id, b, i)
						}
						recs[i] = eventlog.Record{Key: []byte(key), Value: value}
						want = append(want, fmt.Sprintf("%d/%s=%x", id, key, value))
						if value == nil {
							delete(model, key)
						} else {
							model[key] = value
						}
					}
					_, err := p.Append(ctx, recs, eventlog.AppendOptions{Compression: c})
					require.NoError(t, err)
				}
			}
			show := func(v *eventlog.RecordView) string {
				return fmt.Sprintf("%d/%s=%x", v.Partition, v.Key, v.Value)
			}

			var got []string
			require.NoError(t, l.Replay(ctx, "t", func(v *eventlog.RecordView) error {
				got = append(got, show(v))
				return nil
			}))
			assert.Equal(t, want, got, "Replay")

			latest, err := l.ReplayLatest(ctx, "t")
			require.NoError(t, err)
			assert.Equal(t, model, latest, "ReplayLatest")

			got = nil
			for id := range int32(2) {
				p := partition(t, l, "t", id)
				for v, err := range p.Views(p.LogStartOffset()) {
					require.NoError(t, err)
					got = append(got, show(v))
				}
			}
			assert.Equal(t, want, got, "Partition.Views")

			got = nil
			for id := range int32(2) {
				p := partition(t, l, "t", id)
				cur := p.Cursor(p.LogStartOffset())
				for cur.Next() {
					got = append(got, show(cur.View()))
				}
				require.NoError(t, cur.Err())
				cur.Close()
			}
			assert.Equal(t, want, got, "Cursor")

			cons := newTestConsumer(t, l, noWait, tpart(0), tpart(1))
			got = nil
			for v, err := range cons.ViewsToEnd(ctx) {
				require.NoError(t, err)
				got = append(got, show(v))
			}
			assert.ElementsMatch(t, want, got, "ViewsToEnd")

			cons = newTestConsumer(t, l, noWait, tpart(0), tpart(1))
			got = nil
			for r, err := range cons.ReadToEnd(ctx) {
				require.NoError(t, err)
				got = append(got, fmt.Sprintf("%d/%s=%x", r.Partition, r.Key, r.Value))
			}
			assert.ElementsMatch(t, want, got, "ReadToEnd")
		})
	}
}
