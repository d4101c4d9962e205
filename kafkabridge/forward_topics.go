package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/eventlog/eventlog"
	"github.com/twmb/franz-go/pkg/kadm"
)

// checkTopics makes sure every topic of partitions has a remote topic with
// at least as many partitions, creating it, or adding the partitions it
// lacks, if CreateTopics allows.
func (r *forwardRun) checkTopics(ctx context.Context, partitions []eventlog.TopicPartition) error {
	o := &r.f.opts
	local := make(map[string]int)
	configs := make(map[string]eventlog.TopicConfig)
	for _, tp := range partitions {
		if _, ok := local[tp.Topic]; ok {
			continue
		}
		cfg, err := r.f.log.TopicConfig(tp.Topic)
		switch {
		case errors.Is(err, eventlog.ErrTopicNotFound):
			continue // deleted meanwhile: the group takes it away
		case err != nil:
			return fmt.Errorf("kafkabridge: forward: local topic %q: %w", tp.Topic, err)
		}
		if r.checked[tp.Topic] != cfg.Partitions {
			local[tp.Topic] = cfg.Partitions
			configs[tp.Topic] = cfg
		}
	}
	if len(local) == 0 {
		return nil
	}
	var remotes []string
	for t := range local {
		remotes = append(remotes, o.RemoteTopic(t))
	}
	counts, _, err := remotePartitions(ctx, r.client, remotes)
	if err != nil {
		return err
	}
	for t, n := range local {
		remote := o.RemoteTopic(t)
		got, ok := counts[remote]
		switch {
		case !ok && !o.CreateTopics:
			return fmt.Errorf("kafkabridge: forward: local topic %q goes to remote topic %q: %w (set ForwardOptions.CreateTopics to create it)", t, remote, ErrRemoteTopicMissing)
		case !ok:
			part, err := r.f.log.Partition(t, 0)
			switch {
			case errors.Is(err, eventlog.ErrTopicNotFound):
				continue // deleted meanwhile: nothing to create a remote topic for
			case err != nil:
				return fmt.Errorf("kafkabridge: forward: local topic %q: %w", t, err)
			}
			cfgs := remoteTopicConfigs(configs[t], part.MaxBatchBytes())
			if err := createRemoteTopic(ctx, r.client, remote, n, o.ReplicationFactor, cfgs); err != nil {
				return err
			}
			r.logger.Info("created remote topic", "topic", remote, "partitions", n, "configs", cfgs)
		case got < n && !o.CreateTopics:
			return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions and remote topic %q only %d: %w (set ForwardOptions.CreateTopics to add them)", t, n, remote, got, ErrPartitionMismatch)
		case got < n:
			if err := addRemotePartitions(ctx, r.client, remote, got, n); err != nil {
				return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions: %w", t, n, err)
			}
			r.logger.Info("added partitions to the remote topic", "topic", t, "remote_topic", remote, "partitions", n, "remote_partitions", got)
		case got > n:
			r.logger.Warn("remote topic has more partitions than the local one: records keep their partition numbers, so keyed records are not where Kafka's partitioner would put them for the remote count",
				"topic", t, "remote_topic", remote, "partitions", n, "remote_partitions", got)
		}
		if err := awaitClientPartitions(ctx, r.client, remote, n); err != nil {
			return fmt.Errorf("kafkabridge: forward: local topic %q has %d partitions: the Kafka client does not see as many in remote topic %q: %w", t, n, remote, err)
		}
		r.checked[t] = n
	}
	r.readLimits(ctx, remotes)
	return nil
}

// readLimits reads the max.message.bytes of the remote topics into
// r.limits. A cluster that does not tell (DescribeConfigs not authorized)
// leaves the batches at BatchBytes, with a warning.
func (r *forwardRun) readLimits(ctx context.Context, remotes []string) {
	configs, err := kadm.NewClient(r.client).DescribeTopicConfigs(ctx, remotes...)
	if err != nil {
		r.logger.Warn("cannot read the max.message.bytes of remote topics: batches are sized by BatchBytes only", "topics", remotes, "error", err)
		return
	}
	for _, rc := range configs {
		if rc.Err != nil {
			r.logger.Warn("cannot read the max.message.bytes of a remote topic: batches are sized by BatchBytes only", "topic", rc.Name, "error", rc.Err)
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" {
				continue
			}
			if limit, err := strconv.ParseInt(c.MaybeValue(), 10, 32); err == nil && limit > 0 {
				r.limits.Store(rc.Name, int32(limit))
				r.largest[rc.Name] = int(batchCap(r.batchBytes(rc.Name), int32(limit), true)) - batchPrefixBytes
			}
		}
	}
}
