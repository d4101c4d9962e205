package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// remotePartitions returns the partition count of each of topics on the
// cluster, and its topic ID where the cluster tells it; a topic that does
// not exist is absent from the result.
func remotePartitions(ctx context.Context, client *kgo.Client, topics []string) (map[string]int, map[string][16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, client)
	if err != nil {
		return nil, nil, fmt.Errorf("kafkabridge: metadata of remote topics %q: %w", topics, err)
	}
	counts := make(map[string]int, len(topics))
	ids := make(map[string][16]byte, len(topics))
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case err == nil:
			counts[name] = len(t.Partitions)
			ids[name] = t.TopicID
		case err == kerr.UnknownTopicOrPartition:
		default:
			return nil, nil, fmt.Errorf("kafkabridge: metadata of remote topic %q: %w", name, err)
		}
	}
	return counts, ids, nil
}

// createRemoteTopic creates topic on the cluster with the given partition
// count, replication factor (-1: the broker's default) and configs. A topic
// that exists already (another bridge created it meanwhile) is not an
// error.
func createRemoteTopic(ctx context.Context, client *kgo.Client, topic string, partitions int, replication int16, configs map[string]string) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = int32(partitions)
	rt.ReplicationFactor = replication
	for _, name := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, kmsg.StringPtr(configs[name])
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, client)
	if err != nil {
		return fmt.Errorf("kafkabridge: create remote topic %q: %w", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && err != kerr.TopicAlreadyExists {
			if t.ErrorMessage != nil && *t.ErrorMessage != "" {
				err = fmt.Errorf("%w: %s", err, *t.ErrorMessage)
			}
			return fmt.Errorf("kafkabridge: create remote topic %q with %d partitions and configs %v: %w", topic, partitions, configs, err)
		}
	}
	return nil
}

// awaitClientPartitions makes the Kafka client learn that topic has at
// least partitions partitions, if it already sends to it: it learns of
// partitions added since only at its next metadata refresh
// (kgo.MetadataMaxAge, 5 minutes by default), and fails the records sent
// to them until then. A topic it has not sent to yet is loaded whole with
// its first record.
func awaitClientPartitions(ctx context.Context, client *kgo.Client, topic string, partitions int) error {
	if leader, _, _ := client.PartitionLeader(topic, 0); leader < 0 {
		return nil // not loaded
	}
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		if leader, _, _ := client.PartitionLeader(topic, int32(partitions-1)); leader >= 0 {
			return nil
		}
		client.ForceMetadataRefresh()
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
}

// addRemotePartitions adds partitions to topic on the cluster, from have to
// want. Partitions another bridge added meanwhile are not an error.
func addRemotePartitions(ctx context.Context, client *kgo.Client, topic string, have, want int) error {
	resps, err := kadm.NewClient(client).UpdatePartitions(ctx, want, topic)
	if err == nil {
		var resp kadm.CreatePartitionsResponse
		if resp, err = resps.On(topic, nil); err == nil {
			err = resp.Err
			if errors.Is(err, kerr.InvalidPartitions) {
				// Refused as not above the count: it is there already.
				counts, _, cerr := remotePartitions(ctx, client, []string{topic})
				if cerr == nil && counts[topic] >= want {
					err = nil
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("kafkabridge: adding partitions to remote topic %q (%d to %d): %w", topic, have, want, err)
	}
	return nil
}

// compressionCodec maps eventlog's compression.type to kgo's.
func compressionCodec(c eventlog.Compression) (kgo.CompressionCodec, error) {
	switch c {
	case eventlog.CompressionNone:
		return kgo.NoCompression(), nil
	case eventlog.CompressionGzip:
		return kgo.GzipCompression(), nil
	case eventlog.CompressionSnappy:
		return kgo.SnappyCompression(), nil
	case eventlog.CompressionLZ4:
		return kgo.Lz4Compression(), nil
	case eventlog.CompressionZstd:
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("kafkabridge: compression %d: %w", c, eventlog.ErrUnsupportedCompression)
}

// kgoLogger passes the client's log lines to a *slog.Logger.
type kgoLogger struct{ l *slog.Logger }

// Level reports the most detailed level the slog handler wants.
func (k kgoLogger) Level() kgo.LogLevel {
	ctx := context.Background()
	switch {
	case k.l.Enabled(ctx, slog.LevelDebug):
		return kgo.LogLevelDebug
	case k.l.Enabled(ctx, slog.LevelInfo):
		return kgo.LogLevelInfo
	case k.l.Enabled(ctx, slog.LevelWarn):
		return kgo.LogLevelWarn
	case k.l.Enabled(ctx, slog.LevelError):
		return kgo.LogLevelError
	}
	return kgo.LogLevelNone
}

// Log writes one line of the client's.
func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	}
	k.l.Log(context.Background(), l, "kgo: "+msg, keyvals...)
}

// discardLogger is the default: the library never prints.
func discardLogger() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// fromKafkaHeaders converts a Kafka record's headers, keeping nil values
// null.
func fromKafkaHeaders(hs []kgo.RecordHeader) []eventlog.Header {
	if len(hs) == 0 {
		return nil
	}
	out := make([]eventlog.Header, len(hs))
	for i, h := range hs {
		out[i] = eventlog.Header{Key: h.Key, Value: h.Value}
	}
	return out
}
