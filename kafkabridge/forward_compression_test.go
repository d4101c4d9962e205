package kafkabridge_test

import (
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/require"
)

// TestForwardCompressedBatches forwards local batches written with each
// codec, sending with each codec: every record arrives as it was written,
// null and empty keys, values and headers kept apart.
func TestForwardCompressedBatches(t *testing.T) {
	codecs := []eventlog.Compression{eventlog.CompressionNone, eventlog.CompressionGzip, eventlog.CompressionSnappy, eventlog.CompressionLZ4, eventlog.CompressionZstd}
	for i, local := range codecs {
		remote := codecs[(i+1)%len(codecs)]
		t.Run(local.String()+"-to-"+remote.String(), func(t *testing.T) {
			c := newCluster(t, 2, "events")
			l := newLog(t)
			require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 2}))
			p, err := l.NewProducer(&eventlog.ProducerOptions{Compression: local})
			require.NoError(t, err)
			ctx := testContext(t)
			recs := sampleRecords("events", 200, time.UnixMilli(1_700_000_000_000))
			for i := range recs {
				r := recs[i]
				r.Partition = int32(i % 2)
				md, err := p.Send(ctx, r)
				require.NoError(t, err)
				recs[i].Partition, recs[i].Offset = md.Partition, md.Offset
			}
			require.NoError(t, p.Close())

			f, err := kafkabridge.NewForward(l, &kafkabridge.ForwardOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}, Compression: remote})
			require.NoError(t, err)
			stop := runBridge(t, f.Run)
			got := consumeRemote(t, c, "events", 2, len(recs))
			require.NoError(t, stop())
			for part, want := range byPartition(recs) {
				require.Len(t, got[part], len(want))
				for i, r := range want {
					assertSameRecord(t, r, got[part][i], "partition %d record %d", part, i)
				}
			}
		})
	}
}
