package kafkabridge_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/eventlog/eventlog/eventlogtest"
	"github.com/eventlog/eventlog/kafkabridge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

// TestMirrorEndToEnd mirrors a remote topic into a renamed local one it
// creates, and checks partitions, order, keys, values, headers and
// timestamps, the progress committed, and that no goroutine is left.
func TestMirrorEndToEnd(t *testing.T) {
	const n = 400
	c := newCluster(t, 3, "orders")
	sent := produceRemote(t, c, "orders", sampleRecords("orders", n, time.UnixMilli(1_700_000_000_000)))
	l := newLog(t)

	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{
		Brokers:    c.ListenAddrs(),
		Topics:     []string{"orders"},
		LocalTopic: func(remote string) string { return "mirror." + remote },
	})
	require.NoError(t, err)
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop := runBridge(t, m.Run)
	<-commits // the local topic exists once something is committed
	got := readLocal(t, l, "mirror.orders", countByPartition(sent))
	require.NoError(t, stop())

	cfg, err := l.TopicConfig("mirror.orders")
	require.NoError(t, err)
	assert.Equal(t, 3, cfg.Partitions, "created with the remote partition count")
	for p, recs := range byPartition(sent) {
		require.Len(t, got[p], len(recs), "partition %d", p)
		for i, r := range recs {
			assertSameLocal(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}

	offsets, err := l.GroupOffsets(kafkabridge.DefaultMirrorGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 3)
	for _, o := range offsets {
		assert.Equal(t, o.HighWatermark, o.Committed, "%s", o.TopicPartition)
		remote, next, local, err := kafkabridge.ParseProgressMetadata(o.Metadata)
		require.NoError(t, err)
		assert.Equal(t, "orders", remote)
		assert.Equal(t, o.Committed, local)
		assert.Equal(t, int64(len(byPartition(sent)[o.Partition])), next, "remote offset after the last record")
	}
	assert.Empty(t, bridgeGoroutines(), "goroutines left after Run returned")
	require.ErrorIs(t, m.Run(context.Background()), kafkabridge.ErrAlreadyRun)
}

// TestMirrorResumes runs a Mirror twice; the second mirrors only what was
// produced in between.
func TestMirrorResumes(t *testing.T) {
	c, l, opts, first := mirroredEvents(t, 2, 100)

	second := produceRemote(t, c, "events", sampleRecords("events", 60, time.UnixMilli(9_000)))
	all := append(first, second...)
	got := mirrorOnce(t, l, opts, "events", countByPartition(all))
	for p, recs := range byPartition(all) {
		require.Len(t, got[p], len(recs), "partition %d: nothing twice", p)
		for i, r := range recs {
			assertSameLocal(t, r, got[p][i], "partition %d record %d", p, i)
		}
	}
}

// rewindProgress commits a Mirror's progress of one partition back to
// (local, remote), as a crash between an append and its commit leaves it.
func rewindProgress(t *testing.T, l *eventlog.Log, topic string, local, remote, metadataLocal int64) {
	t.Helper()
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: kafkabridge.DefaultMirrorGroupID})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.CommitOffsets(testContext(t), map[eventlog.TopicPartition]eventlog.OffsetAndMetadata{
		{Topic: topic, Partition: 0}: {Offset: local, Metadata: topic + "@" + itoa(remote) + " " + itoa(metadataLocal)},
	}))
}

// TestMirrorVerifiesUncommittedTail rewinds the committed progress as a crash
// after an append and before its commit would, and checks that the next Run
// matches the records after the commit with the remote ones rather than
// appending them again.
func TestMirrorVerifiesUncommittedTail(t *testing.T) {
	c, l, opts, sent := mirroredEvents(t, 1, 50)

	rewindProgress(t, l, "events", 20, 20, 20)
	more := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(5_000)))
	got := mirrorOnce(t, l, opts, "events", map[int32]int{0: 60})
	require.Len(t, got[0], 60, "the 30 records after the rewound commit are not appended again")
	for i, r := range append(sent, more...) {
		assertSameLocal(t, r, got[0][i], "record %d", i)
	}
}

// TestMirrorTailThatDiffers appends a record of its own after the Mirror's
// commit: it does not match the remote records, so the Mirror appends them
// all after it. Nothing remote is lost.
func TestMirrorTailThatDiffers(t *testing.T) {
	c := newCluster(t, 1, "events")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: 1}))
	opts := &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}}
	first := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(1_000)))
	mirrorOnce(t, l, opts, "events", map[int32]int{0: 10})

	p, err := l.Partition("events", 0)
	require.NoError(t, err)
	_, err = p.Append(testContext(t), []eventlog.Record{{Value: []byte("written locally")}}, eventlog.AppendOptions{})
	require.NoError(t, err)
	second := produceRemote(t, c, "events", sampleRecords("events", 5, time.UnixMilli(9_000)))

	got := mirrorOnce(t, l, opts, "events", map[int32]int{0: 16})
	assert.Equal(t, "written locally", string(got[0][10].Value))
	for i, r := range second {
		assertSameLocal(t, r, got[0][11+i], "record %d", i)
	}
	assert.Len(t, first, 10)
}

// TestMirrorRefusesFewerLocalPartitions stops with ErrPartitionMismatch when
// the local topic cannot hold every remote partition.
func TestMirrorRefusesFewerLocalPartitions(t *testing.T) {
	c := newCluster(t, 4, "orders")
	l := newLog(t)
	require.NoError(t, l.CreateTopic("orders", eventlog.TopicConfig{Partitions: 2}))
	m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"orders"}})
	require.NoError(t, err)
	err = m.Run(testContext(t))
	require.ErrorIs(t, err, kafkabridge.ErrPartitionMismatch)
	assert.Contains(t, err.Error(), `remote topic has 4 partitions and local topic "orders" only 2`)
}

// TestMirrorMissingRemoteTopic stops with ErrRemoteTopicMissing.
func TestMirrorMissingRemoteTopic(t *testing.T) {
	c := newCluster(t, 1)
	m, err := kafkabridge.NewMirror(newLog(t), &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"nope"}})
	require.NoError(t, err)
	err = m.Run(testContext(t))
	require.ErrorIs(t, err, kafkabridge.ErrRemoteTopicMissing)
	assert.Contains(t, err.Error(), `"nope"`)
}

// TestMirrorOptionsErrors checks that bad options are refused with errors
// naming what is wrong.
func TestMirrorOptionsErrors(t *testing.T) {
	l := newLog(t)
	for _, tc := range []struct {
		opts kafkabridge.MirrorOptions
		want string
	}{
		{kafkabridge.MirrorOptions{Topics: []string{"a"}}, "Brokers is empty"},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}}, "Topics is empty"},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}, Topics: []string{"a", "a"}}, `names "a" twice`},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}, Topics: []string{""}}, "empty name"},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}, Topics: []string{"a"}, MaxPartitionFetchBytes: -1}, "negative"},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}, Topics: []string{"a"}, LocalTopic: func(string) string { return "" }},
			`names no local topic for remote topic "a"`},
		{kafkabridge.MirrorOptions{Brokers: []string{"x:1"}, Topics: []string{"a", "b", "c"}, LocalTopic: oneLocalTopicFor("a", "c")},
			`mirrors both remote topics "a" and "c" into local topic "all"`},
	} {
		_, err := kafkabridge.NewMirror(l, &tc.opts)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.True(t, errors.Is(err, eventlog.ErrInvalidConfig) || errors.Is(err, eventlog.ErrInvalidTopic), err.Error())
	}
	_, err := kafkabridge.NewMirror(nil, nil)
	require.ErrorIs(t, err, eventlog.ErrInvalidConfig)
}

// oneLocalTopicFor is a MirrorOptions.LocalTopic that mirrors the remote
// topics named into one local topic, "all", and the others into their own.
func oneLocalTopicFor(remotes ...string) func(string) string {
	return func(remote string) string {
		if slices.Contains(remotes, remote) {
			return "all"
		}
		return remote
	}
}

// TestMirrorLoweredCommit commits progress whose offset is below the local
// offset its metadata names, as Open leaves it after a power loss took
// mirrored records of a DurabilityOS topic: the Mirror starts as many remote
// offsets earlier, so none is lost, and here, the records being still
// there, matches them instead of appending them again.
func TestMirrorLoweredCommit(t *testing.T) {
	c, l, opts, sent := mirroredEvents(t, 1, 50)

	rewindProgress(t, l, "events", 30, 50, 50)
	more := produceRemote(t, c, "events", sampleRecords("events", 5, time.UnixMilli(5_000)))
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
	stop := runBridge(t, m.Run)
	for o := range commits {
		if o[eventlog.TopicPartition{Topic: "events"}].Offset == 55 {
			break
		}
	}
	require.NoError(t, stop())
	got := readLocal(t, l, "events", map[int32]int{0: 55})
	require.Len(t, got[0], 55)
	for i, r := range append(sent, more...) {
		assertSameLocal(t, r, got[0][i], "record %d", i)
	}
}

// mirrorOnce runs a Mirror until topic holds counts records per partition,
// mirroredEvents produces n records to a remote topic "events" of
// partitions partitions, mirrors them into a fresh Log with a topic of the
// same shape, and returns the cluster, the Log, the Mirror's options and the
// records sent.
func mirroredEvents(t *testing.T, partitions int32, n int) (*kfake.Cluster, *eventlog.Log, *kafkabridge.MirrorOptions, []eventlog.Record) {
	t.Helper()
	c := newCluster(t, partitions, "events")
	sent := produceRemote(t, c, "events", sampleRecords("events", n, time.UnixMilli(1_000)))
	l := newLog(t)
	require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{Partitions: int(partitions)}))
	opts := &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}}
	mirrorOnce(t, l, opts, "events", countByPartition(sent))
	return c, l, opts, sent
}

// stops it, and returns the local records.
func mirrorOnce(t *testing.T, l *eventlog.Log, opts *kafkabridge.MirrorOptions, topic string, counts map[int32]int) map[int32][]eventlog.Record {
	t.Helper()
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	stop := runBridge(t, m.Run)
	got := readLocal(t, l, topic, counts)
	require.NoError(t, stop())
	return got
}

// TestMirrorStopsWhenLocalGoesAway closes the Log, or deletes the local
// topic, under a Mirror that has caught up and waits for remote records:
// Run returns at once with an error naming the local topic, rather than
// waiting on a Log it can no longer write to, and leaves no goroutine.
func TestMirrorStopsWhenLocalGoesAway(t *testing.T) {
	for _, tc := range []struct {
		name   string
		remove func(*eventlog.Log) error
		want   error
	}{
		{"log closed", func(l *eventlog.Log) error { return l.Close() }, eventlog.ErrClosed},
		{"topic deleted", func(l *eventlog.Log) error { return l.DeleteTopic(testContext(t), "events") }, eventlog.ErrTopicNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 2, "events")
			produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(1_000)))
			l := newLog(t)
			m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}})
			require.NoError(t, err)
			commits := make(chan map[eventlog.TopicPartition]eventlog.OffsetAndMetadata, 100)
			kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) { commits <- o })
			done := make(chan error, 1)
			// Without the Log or topic to stop it, Run would return nil once
			// this context ends.
			go func() { done <- m.Run(testContext(t)) }()
			<-commits

			require.NoError(t, tc.remove(l))
			err = <-done
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), `local topic "events", the mirror of remote topic "events"`)
			assert.Empty(t, bridgeGoroutines(), "goroutines left after Run returned")
		})
	}
}

// TestMirrorAppendsFetchesAsBatches checks that a Mirror appends each
// fetched partition's records as one batch, as the package documentation
// says, into a topic with the Log's default MaxBatchBytes, and splits a
// fetch into batches that fit a Log whose MaxBatchBytes is smaller.
func TestMirrorAppendsFetchesAsBatches(t *testing.T) {
	for _, tc := range []struct {
		name          string
		maxBatchBytes int // the Log's
	}{
		{"default", 0},
		{"small log-wide limit", 1024},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 400
			c := newCluster(t, 1, "events")
			sent := produceRemote(t, c, "events", sampleRecords("events", n, time.UnixMilli(1_000)))
			l := eventlogtest.New(t, &eventlog.Options{MaxBatchBytes: tc.maxBatchBytes})
			require.NoError(t, l.CreateTopic("events", eventlog.TopicConfig{}))
			m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}})
			require.NoError(t, err)
			fetches := runMirrorTo(t, m, "events", n)

			got := readLocal(t, l, "events", map[int32]int{0: n})
			require.Len(t, got[0], n)
			for i, r := range sent {
				assertSameLocal(t, r, got[0][i], "record %d", i)
			}
			p, err := l.Partition("events", 0)
			require.NoError(t, err)
			batches := 0
			for b, err := range p.Batches(0) {
				require.NoError(t, err)
				batches++
				if tc.maxBatchBytes > 0 {
					assert.LessOrEqual(t, b.Size, int64(tc.maxBatchBytes))
				}
			}
			if tc.maxBatchBytes == 0 {
				assert.Equal(t, fetches, batches, "one batch per fetch, not one per record")
			} else {
				// 400 records of about 40 bytes need more than 16 batches
				// of 1 KiB, each filled up to the limit.
				assert.Less(t, batches, n/4, "batches of many records")
			}
		})
	}
}

// runMirrorTo runs m until it has committed the mirror of n records of
// partition 0 of topic, then stops it, and returns the commits it made
// until then: one per fetch that moved the partition.
func runMirrorTo(t *testing.T, m *kafkabridge.Mirror, topic string, n int) (fetches int) {
	t.Helper()
	caughtUp := make(chan struct{})
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		fetches++
		if o[eventlog.TopicPartition{Topic: topic}].Offset == int64(n) {
			close(caughtUp)
		}
	})
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	done := startRun(ctx, m.Run)
	select {
	case <-caughtUp:
		cancel()
		require.NoError(t, <-done)
	case err := <-done:
		require.NoError(t, err, "Run stopped before mirroring every record")
		require.Fail(t, "Run stopped before mirroring every record")
	}
	return fetches
}

// TestMirrorSizesBatchesByTheLocalLimit mirrors records into local batches
// that reach the local partition's MaxBatchBytes exactly, whether the Log
// or the topic sets it, and has no append refused as too large.
func TestMirrorSizesBatchesByTheLocalLimit(t *testing.T) {
	// A record of a 200-byte value, no key and no headers, with timestamp
	// and offset deltas under 64, encodes to 209 bytes (a 2-byte length,
	// then 1+1+1 for attributes and deltas, 1 for the null key, 2+200 for
	// the value, 1 for the header count): ten fill a batch of this many
	// bytes with its 61-byte header. A record of a 2081-byte value takes
	// 2090, so that a batch of it alone is as large.
	const (
		limit          = 61 + 10*209
		perBatch       = 10
		small          = 95
		bigValue       = 2081
		minimumBatches = (small+perBatch-1)/perBatch + 1
	)
	base := time.UnixMilli(1_700_000_000_000)
	recs := make([]eventlog.Record, small+1)
	for i := range small {
		recs[i] = eventlog.Record{Value: bytes.Repeat([]byte{byte('a' + i%26)}, 200), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
	}
	recs[small] = eventlog.Record{Value: bytes.Repeat([]byte{'z'}, bigValue), Timestamp: base.Add(time.Second)}

	for _, tc := range []struct {
		name  string
		opts  *eventlog.Options
		topic eventlog.TopicConfig
	}{
		{"log-wide limit", &eventlog.Options{MaxBatchBytes: limit}, eventlog.TopicConfig{}},
		{"topic's own limit", nil, eventlog.TopicConfig{MaxBatchBytes: limit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 1, "events")
			sent := produceRemote(t, c, "events", recs)
			l := eventlogtest.New(t, tc.opts)
			require.NoError(t, l.CreateTopic("events", tc.topic))
			m, err := kafkabridge.NewMirror(l, &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}})
			require.NoError(t, err)
			var refused []int // records of each append refused as too large
			kafkabridge.SetMirrorAppendHook(m, func(records int, err error) {
				if errors.Is(err, eventlog.ErrRecordTooLarge) {
					refused = append(refused, records)
				}
			})
			fetches := runMirrorTo(t, m, "events", len(recs))

			assert.Empty(t, refused, "appends refused as too large, by their records")
			got := readLocal(t, l, "events", map[int32]int{0: len(recs)})
			require.Len(t, got[0], len(recs))
			for i, r := range sent {
				assertSameLocal(t, r, got[0][i], "record %d", i)
			}
			p, err := l.Partition("events", 0)
			require.NoError(t, err)
			require.Equal(t, limit, p.MaxBatchBytes())
			batches := 0
			for b, err := range p.Batches(0) {
				require.NoError(t, err)
				batches++
				assert.LessOrEqual(t, b.Size, int64(limit), "batch at %d", b.BaseOffset)
				if b.Records == perBatch || b.BaseOffset == small {
					assert.Equal(t, int64(limit), b.Size, "a full batch at %d", b.BaseOffset)
				}
			}
			// Each fetch but the last may end in a batch that is not full.
			assert.LessOrEqual(t, batches, minimumBatches+fetches-1, "batches as full as the limit lets them be, over %d fetches", fetches)
		})
	}
}

// TestMirrorRecordBytes checks the sizes by which a Mirror fills its local
// batches against the size eventlog stores each batch at, for records of
// every shape a remote one can take: null and empty keys and values,
// headers, varint lengths of one to three bytes, offset deltas past 63,
// and timestamps far apart, before the first record's too.
func TestMirrorRecordBytes(t *testing.T) {
	l := eventlogtest.New(t, &eventlog.Options{MaxBatchBytes: 16 << 20})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	p, err := l.Partition("t", 0)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	field := func() []byte {
		switch rng.IntN(10) {
		case 0:
			return nil
		case 1:
			return []byte{}
		case 2:
			return make([]byte, 8000+rng.IntN(400)) // around the 3-byte varint length
		}
		return make([]byte, rng.IntN(200))
	}
	base := time.UnixMilli(1_700_000_000_000)
	for range 100 {
		batch := make([]eventlog.Record, 1+rng.IntN(150))
		size := kafkabridge.BatchHeaderBytes
		for i := range batch {
			r := eventlog.Record{Key: field(), Value: field(), Timestamp: base.Add(time.Duration(rng.Int64N(1<<40)-1<<39) * time.Millisecond)}
			for range rng.IntN(3) {
				r.Headers = append(r.Headers, eventlog.Header{Key: string(make([]byte, rng.IntN(100))), Value: field()})
			}
			size += kafkabridge.RecordBytes(&r, batch[:i])
			batch[i] = r
		}
		off, err := p.Append(testContext(t), batch, eventlog.AppendOptions{})
		require.NoError(t, err)
		for b, err := range p.Batches(off) {
			require.NoError(t, err)
			require.Equal(t, int64(size), b.Size, "a batch of %d records", len(batch))
			break
		}
	}
}

// TestMirrorStopsAtARecordTooLarge mirrors a remote record too large for
// the local partition: Run stops with ErrRecordTooLarge, and the progress
// it commits ends before that record, so that a Run on a Log that takes it
// mirrors it rather than going on after it.
func TestMirrorStopsAtARecordTooLarge(t *testing.T) {
	const before, after = 20, 5
	c := newCluster(t, 1, "events")
	recs := sampleRecords("events", before+1+after, time.UnixMilli(1_000))
	recs[before].Value = bytes.Repeat([]byte{'x'}, 2000)
	sent := produceRemote(t, c, "events", recs)
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{MaxBatchBytes: 1024, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	defer func() { _ = l.Close() }()
	opts := &kafkabridge.MirrorOptions{Brokers: c.ListenAddrs(), Topics: []string{"events"}}
	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	err = m.Run(testContext(t))
	require.ErrorIs(t, err, eventlog.ErrRecordTooLarge)

	offsets, err := l.GroupOffsets(kafkabridge.DefaultMirrorGroupID)
	require.NoError(t, err)
	require.Len(t, offsets, 1)
	_, remoteNext, localNext, err := kafkabridge.ParseProgressMetadata(offsets[0].Metadata)
	require.NoError(t, err)
	assert.Equal(t, int64(before), localNext, "the records before the large one are mirrored")
	require.Equal(t, int64(before), remoteNext, "the progress goes on at the large record")

	require.NoError(t, l.Close())
	l, err = eventlog.Open(dir, &eventlog.Options{MaxBatchBytes: 4096, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	got := mirrorOnce(t, l, opts, "events", map[int32]int{0: len(sent)})
	require.Len(t, got[0], len(sent))
	for i, r := range sent {
		assertSameLocal(t, r, got[0][i], "record %d", i)
	}
}

// TestMirrorTailDeletedLocally rewinds the committed progress as a crash
// after an append and before its commit would, and deletes local records
// after the commit, as retention does to a Mirror stopped long enough:
// those records cannot be compared any more, and stand for the remote
// records they were appended from. The next Run must neither fail nor
// append anything twice.
func TestMirrorTailDeletedLocally(t *testing.T) {
	c, l, opts, sent := mirroredEvents(t, 1, 50)
	rewindProgress(t, l, "events", 20, 20, 20)
	_, err := l.DeleteRecords(testContext(t), "events", 0, 30)
	require.NoError(t, err)
	more := produceRemote(t, c, "events", sampleRecords("events", 10, time.UnixMilli(5_000)))

	m, err := kafkabridge.NewMirror(l, opts)
	require.NoError(t, err)
	caughtUp := make(chan struct{})
	kafkabridge.SetMirrorCommitHook(m, func(o map[eventlog.TopicPartition]eventlog.OffsetAndMetadata) {
		if o[eventlog.TopicPartition{Topic: "events", Partition: 0}].Offset == 60 {
			close(caughtUp)
		}
	})
	ctx := testContext(t)
	done := make(chan error, 1)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- m.Run(runCtx) }()
	awaitWhileRunning(t, ctx, caughtUp, done, "catching up")
	cancel()
	require.NoError(t, <-done)
	got := readLocal(t, l, "events", map[int32]int{0: 30})
	require.Len(t, got[0], 30, "records 30 to 59: nothing appended twice")
	for i, r := range append(sent[30:], more...) {
		assertSameLocal(t, r, got[0][i], "record %d", 30+i)
	}
}
