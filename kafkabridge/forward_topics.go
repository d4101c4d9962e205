package kafkabridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

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

// stallCheckInterval is how long records await the cluster without any
// answer before checkStall asks whether their remote topics still exist.
const stallCheckInterval = time.Second

// stallQuestion is checkStall's question to the cluster, asked on a
// goroutine of its own so that a cluster slow to answer it does not hold
// up the loop, which notices the Log closing; answer receives its answer.
type stallQuestion struct {
	answer chan stallAnswer
	cancel context.CancelFunc
}

// stallAnswer is the cluster's answer: the partition counts of the remote
// topics asked about (locals maps each to its local topic), or an error.
type stallAnswer struct {
	locals map[string]string
	counts map[string]int
	err    error
}

// checkStall notices remote topics deleted while the Forward runs. When
// records await the cluster and it answered none for stallCheckInterval,
// it asks the cluster about the remote topics of the partitions the
// Forward owns, and reads the answer at a later turn of the loop. A topic
// that is gone stops the Run with an error wrapping ErrRemoteTopicMissing,
// and the records buffered for it are failed at once, so that the
// shutdown does not wait for them: the Kafka client would retry them for
// some 20 seconds and fail them with the bare UNKNOWN_TOPIC_OR_PARTITION.
// A running Forward does not create the topic again, even with
// CreateTopics; the next Run does (see the package documentation). No
// answer is no news: the Forward goes on waiting, and asks again.
func (r *forwardRun) checkStall(ctx context.Context) error {
	if q := r.stall; q != nil {
		select {
		case a := <-q.answer:
			q.cancel()
			r.stall = nil
			return r.deletedRemotes(a)
		default:
			return nil // not answered yet
		}
	}
	now := time.Now()
	answered := r.answered.Load()
	if r.inFlight.Load() == 0 || answered != r.answeredThen {
		r.lastStallCheck, r.answeredThen = now, answered
		return nil
	}
	if now.Sub(r.lastStallCheck) < stallCheckInterval {
		return nil
	}
	r.lastStallCheck = now
	locals := make(map[string]string) // remote topic -> local topic
	for tp, part := range r.assigned {
		// A local topic deleted meanwhile is not forwarded any more,
		// whatever became of its remote topic.
		if cur, err := r.f.log.Partition(tp.Topic, tp.Partition); err == nil && cur == part {
			locals[r.f.opts.RemoteTopic(tp.Topic)] = tp.Topic
		}
	}
	if len(locals) == 0 {
		return nil
	}
	remotes := slices.Sorted(maps.Keys(locals))
	qctx, cancel := context.WithTimeout(ctx, 10*stallCheckInterval)
	q := &stallQuestion{answer: make(chan stallAnswer, 1), cancel: cancel}
	r.stall = q
	r.questions.Add(1)
	go func() {
		defer r.questions.Done()
		counts, _, err := remotePartitions(qctx, r.client, remotes)
		q.answer <- stallAnswer{locals: locals, counts: counts, err: err}
		// Wake the loop up, in a read or waiting for the cluster.
		r.consumer.Wakeup()
		select {
		case r.acked <- struct{}{}:
		default:
		}
	}()
	return nil
}

// deletedRemotes reads the cluster's answer to checkStall's question.
func (r *forwardRun) deletedRemotes(a stallAnswer) error {
	if a.err != nil {
		r.logger.Debug("cannot check the remote topics while the cluster does not answer", "error", a.err)
		return nil
	}
	var gone []string
	for _, remote := range slices.Sorted(maps.Keys(a.locals)) {
		if _, ok := a.counts[remote]; !ok {
			gone = append(gone, remote)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	hint := "create it, or set ForwardOptions.CreateTopics, and run the Forward again"
	if r.f.opts.CreateTopics {
		hint = "the next Run creates it again"
	}
	err := fmt.Errorf("kafkabridge: forward: remote topic %q, which local topic %q goes to, was deleted while the Forward ran (%s; it forwards from the committed progress): %w",
		gone[0], a.locals[gone[0]], hint, ErrRemoteTopicMissing)
	r.fail(err)
	r.client.PurgeTopicsFromProducing(gone...)
	return err
}

// stopQuestions ends checkStall's question, if one is out, and waits for
// its goroutine.
func (r *forwardRun) stopQuestions() {
	if r.stall != nil {
		r.stall.cancel()
		r.stall = nil
	}
	r.questions.Wait()
}
