package kafkaserver_test

import (
	"context"
	"testing"

	"github.com/eventlog/eventlog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReadOnlyLogRefusesWrites checks what a listener over a read-only
// Log answers the writes it cannot make: POLICY_VIOLATION, which Kafka
// answers a request its configured policy refuses (a CreateTopics or
// AlterConfigs policy, a DeleteRecords on a compacted topic), rather
// than UNKNOWN_SERVER_ERROR; clients take it as final rather than
// retrying. Reads still work.
func TestReadOnlyLogRefusesWrites(t *testing.T) {
	fsys := eventlog.NewMemFS()
	w, err := eventlog.Open("/d", &eventlog.Options{FS: fsys})
	require.NoError(t, err)
	require.NoError(t, w.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := w.Partition("t", 0)
	require.NoError(t, err)
	_, err = p.Append(context.Background(), []eventlog.Record{{Key: []byte("k"), Value: []byte("v")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	require.NoError(t, w.Close())

	l, err := eventlog.Open("/d", &eventlog.Options{FS: fsys, ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	f := serve(t, l, nil)
	ctx := testContext(t)

	for _, idempotent := range []bool{false, true} {
		opts := []kgo.Opt{kgo.RecordRetries(1)}
		if !idempotent {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		cl := f.client(t, opts...)
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr()
		assert.ErrorIs(t, err, kerr.PolicyViolation, "produce, idempotent %v", idempotent)
	}

	adm := kadm.NewClient(f.client(t))
	created, err := adm.CreateTopic(ctx, 1, -1, nil, "new")
	if err == nil {
		err = created.Err
	}
	assert.ErrorIs(t, err, kerr.PolicyViolation, "create topics")
	altered, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kmsg.StringPtr("60000")}}, "t")
	require.NoError(t, err)
	require.Len(t, altered, 1)
	assert.ErrorIs(t, altered[0].Err, kerr.PolicyViolation, "incremental alter configs")
	grown, err := adm.CreatePartitions(ctx, 2, "t")
	require.NoError(t, err)
	assert.ErrorIs(t, grown["t"].Err, kerr.PolicyViolation, "create partitions")
	deleted, err := adm.DeleteTopics(ctx, "t")
	require.NoError(t, err)
	assert.ErrorIs(t, deleted["t"].Err, kerr.PolicyViolation, "delete topics")

	var offsets kadm.Offsets
	offsets.Add(kadm.Offset{Topic: "t", Partition: 0, At: 1, LeaderEpoch: -1})
	dropped, err := adm.DeleteRecords(ctx, offsets)
	require.NoError(t, err)
	assert.ErrorIs(t, dropped.Error(), kerr.PolicyViolation, "delete records")
	committed, err := adm.CommitOffsets(ctx, "g", offsets)
	if err == nil {
		err = committed.Error()
	}
	assert.ErrorIs(t, err, kerr.PolicyViolation, "offset commit")

	// Reads are served.
	cl := f.client(t, kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := consume(t, ctx, cl, 1)
	assert.Equal(t, "v", string(recs[0].Value))
}
