package kafkaserver_test

import (
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteRecordsPolicy checks DeleteRecords' answers as Kafka gives
// them: POLICY_VIOLATION for a topic whose cleanup.policy does not delete
// (compact alone), whose records go only by compaction; the new log start
// offset for one that does, and for -1 the high watermark.
func TestDeleteRecordsPolicy(t *testing.T) {
	f := newFixture(t, map[string]eventlog.TopicConfig{
		"compacted": {Partitions: 1, CleanupPolicy: eventlog.CleanupCompact},
		"both":      {Partitions: 1, CleanupPolicy: eventlog.CleanupCompactDelete},
	})
	ctx := testContext(t)
	cl := f.client(t)
	for _, topic := range []string{"compacted", "both"} {
		require.NoError(t, cl.ProduceSync(ctx,
			&kgo.Record{Topic: topic, Key: []byte("a"), Value: []byte("1")},
			&kgo.Record{Topic: topic, Key: []byte("b"), Value: []byte("2")}).FirstErr())
	}
	adm := kadm.NewClient(cl)
	del := func(topic string, at int64) kadm.DeleteRecordsResponse {
		var o kadm.Offsets
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: at})
		resp, err := adm.DeleteRecords(ctx, o)
		require.NoError(t, err)
		r, ok := resp.Lookup(topic, 0)
		require.True(t, ok)
		return r
	}
	assert.ErrorIs(t, del("compacted", 1).Err, kerr.PolicyViolation)
	r := del("both", -1)
	require.NoError(t, r.Err)
	assert.EqualValues(t, 2, r.LowWatermark)
}
