package eventlogotel

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/eventlog/eventlog"
)

// ScopeName is the instrumentation scope of the meter Register uses and of
// the metrics HistogramProducer produces.
const ScopeName = "github.com/eventlog/eventlog/metrics/otel"

// Attributes of the metrics: OpenTelemetry's messaging conventions name a
// topic, a partition and a consumer group.
var (
	topicKey     = semconv.MessagingDestinationNameKey
	partitionKey = semconv.MessagingDestinationPartitionIDKey
	groupKey     = semconv.MessagingConsumerGroupNameKey
	// groupStateKey says which state eventlog.group.state reports on.
	groupStateKey = attribute.Key("eventlog.group.state")
)

// instruments are the asynchronous instruments Register creates.
type instruments struct {
	appendedRecords, appendedSize          metric.Int64ObservableCounter
	highWatermark, logStart, logEnd        metric.Int64ObservableGauge
	segments, size                         metric.Int64ObservableUpDownCounter
	dirtyRatio                             metric.Float64ObservableGauge
	cleanerRuns, cleanerIO, cleanerRemoved metric.Int64ObservableCounter
	cleanerMapMax                          metric.Int64ObservableGauge
	groupMembers                           metric.Int64ObservableUpDownCounter
	groupGeneration, groupState            metric.Int64ObservableGauge
	groupRebalances                        metric.Int64ObservableCounter
	groupCommitted, groupLag               metric.Int64ObservableGauge
	recoveryClean                          metric.Int64ObservableGauge
	recoverySegments, recoveryScanned      metric.Int64ObservableCounter
	recoveryTruncated, recoveryIndexes     metric.Int64ObservableCounter
	recoveryRepaired                       metric.Int64ObservableCounter
	recoveryDuration                       metric.Float64ObservableGauge

	observables []metric.Observable // all of the above
	groupStates []eventlog.GroupState
	stateAttrs  map[eventlog.GroupState]attribute.KeyValue
}

// Register creates asynchronous instruments for l's counters and gauges on
// a meter of mp (scope ScopeName), observed by one callback that takes a
// Log.Stats snapshot per collection; it starts no goroutine. The latency
// histograms are not among them: see HistogramProducer. Unregister the
// returned Registration to stop observing l, before or after closing it.
func Register(l *eventlog.Log, mp metric.MeterProvider) (metric.Registration, error) {
	if l == nil || mp == nil {
		return nil, errors.New("eventlogotel: Register needs a Log and a MeterProvider")
	}
	m := mp.Meter(ScopeName)
	in := &instruments{}
	var errs []error
	i64c := func(name, unit, desc string) metric.Int64ObservableCounter {
		x, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.observables = append(in.observables, x)
		return x
	}
	i64u := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		x, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.observables = append(in.observables, x)
		return x
	}
	i64g := func(name, unit, desc string) metric.Int64ObservableGauge {
		x, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.observables = append(in.observables, x)
		return x
	}
	f64g := func(name, unit, desc string) metric.Float64ObservableGauge {
		x, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		in.observables = append(in.observables, x)
		return x
	}
	in.appendedRecords = i64c("eventlog.partition.appended.records", "{record}", "Records appended to the partition since the log was opened.")
	in.appendedSize = i64c("eventlog.partition.appended.size", "By", "Bytes of record batches appended to the partition since the log was opened.")
	in.highWatermark = i64g("eventlog.partition.high_watermark", "{offset}", "Offset after the last record readers may see: the end of what is as durable as the topic promises.")
	in.logStart = i64g("eventlog.partition.log_start_offset", "{offset}", "First offset still stored in the partition.")
	in.logEnd = i64g("eventlog.partition.log_end_offset", "{offset}", "Offset the next record appended to the partition will get.")
	in.segments = i64u("eventlog.partition.segments", "{segment}", "Segment files of the partition, the active one included.")
	in.size = i64u("eventlog.partition.size", "By", "Bytes of the partition's segment files, indexes not counted.")
	in.dirtyRatio = f64g("eventlog.partition.dirty_ratio", "1", "Share of the bytes of a compacted partition's closed segments written since its last cleaning.")
	in.cleanerRuns = i64c("eventlog.partition.cleaner.runs", "{run}", "Cleaning passes of the log cleaner completed on the partition since the log was opened.")
	in.cleanerIO = i64c("eventlog.partition.cleaner.io", "By", "Bytes the log cleaner read from the partition's segments and wrote to cleaned ones.")
	in.cleanerRemoved = i64c("eventlog.partition.cleaner.removed", "{record}", "Records the log cleaner removed from the partition: superseded, expired tombstones, keyless.")
	in.cleanerMapMax = i64g("eventlog.cleaner.map.max_size", "By", "Most memory one cleaning's key to offset map used since the log was opened.")
	in.groupMembers = i64u("eventlog.group.members", "{member}", "Members of the consumer group.")
	in.groupGeneration = i64g("eventlog.group.generation", "{generation}", "Generation of the consumer group, bumped by every rebalance.")
	in.groupRebalances = i64c("eventlog.group.rebalances", "{rebalance}", "Rebalances the consumer group completed since the log was opened.")
	in.groupState = i64g("eventlog.group.state", "1", "1 for the state the consumer group is in, 0 for the others.")
	in.groupCommitted = i64g("eventlog.group.committed_offset", "{offset}", "Offset the consumer group committed for the partition: the next record it will consume.")
	in.groupLag = i64g("eventlog.group.lag", "{record}", "Records of the partition the consumer group has not consumed: high watermark minus committed offset.")
	in.recoveryClean = i64g("eventlog.recovery.clean_shutdown", "1", "1 if the log had been closed cleanly before it was opened, so that nothing was scanned.")
	in.recoverySegments = i64c("eventlog.recovery.scanned_segments", "{segment}", "Segments read batch by batch to find their end when the log was opened.")
	in.recoveryScanned = i64c("eventlog.recovery.scanned_size", "By", "Bytes of segments read batch by batch when the log was opened.")
	in.recoveryTruncated = i64c("eventlog.recovery.truncated_size", "By", "Bytes cut from damaged or torn segment tails when the log was opened.")
	in.recoveryIndexes = i64c("eventlog.recovery.rebuilt_indexes", "{index}", "Segment indexes rebuilt from the log because they were missing or inconsistent, at open or on first read.")
	in.recoveryRepaired = i64c("eventlog.recovery.repaired_segments", "{segment}", "Copies kept of corrupt data cut by a repair when the log was opened.")
	in.recoveryDuration = f64g("eventlog.recovery.duration", "s", "How long opening the log took to recover it.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	in.groupStates = []eventlog.GroupState{eventlog.GroupEmpty, eventlog.GroupPreparingRebalance, eventlog.GroupCompletingRebalance, eventlog.GroupStable}
	in.stateAttrs = make(map[eventlog.GroupState]attribute.KeyValue)
	for _, s := range in.groupStates {
		in.stateAttrs[s] = groupStateKey.String(string(s))
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		in.observe(o, l.Stats())
		return nil
	}, in.observables...)
}

// observe reports a snapshot.
func (in *instruments) observe(o metric.Observer, st eventlog.Stats) {
	for i := range st.Partitions {
		p := &st.Partitions[i]
		topic, part := topicKey.String(p.Topic), partitionKey.String(strconv.FormatInt(int64(p.Partition), 10))
		attrs := metric.WithAttributeSet(attribute.NewSet(topic, part))
		o.ObserveInt64(in.appendedRecords, p.AppendedRecords, attrs)
		o.ObserveInt64(in.appendedSize, p.AppendedBytes, attrs)
		o.ObserveInt64(in.highWatermark, p.HighWatermark, attrs)
		o.ObserveInt64(in.logStart, p.LogStartOffset, attrs)
		o.ObserveInt64(in.logEnd, p.LogEndOffset, attrs)
		o.ObserveInt64(in.segments, int64(p.Segments), attrs)
		o.ObserveInt64(in.size, p.Bytes, attrs)
		// The cleaner's series exist for partitions it may clean, or did.
		if p.CleanupPolicy == eventlog.CleanupDelete && p.Cleaner.Runs == 0 {
			continue
		}
		o.ObserveFloat64(in.dirtyRatio, p.DirtyRatio, attrs)
		o.ObserveInt64(in.cleanerRuns, p.Cleaner.Runs, attrs)
		o.ObserveInt64(in.cleanerIO, p.Cleaner.BytesRead, metric.WithAttributes(topic, part, semconv.DiskIODirectionRead))
		o.ObserveInt64(in.cleanerIO, p.Cleaner.BytesWritten, metric.WithAttributes(topic, part, semconv.DiskIODirectionWrite))
		o.ObserveInt64(in.cleanerRemoved, p.Cleaner.RecordsRemoved, attrs)
	}
	o.ObserveInt64(in.cleanerMapMax, st.Cleaner.MapBytes)
	seen := make(map[string]bool, len(st.Groups))
	for i := range st.Groups {
		g := &st.Groups[i]
		// Exporters send attribute values as UTF-8, and a group ID need
		// not be: invalid bytes show as U+FFFD, and should two IDs then
		// look the same, only the first is observed.
		id := strings.ToValidUTF8(g.GroupID, "\uFFFD")
		if seen[id] {
			continue
		}
		seen[id] = true
		group := groupKey.String(id)
		attrs := metric.WithAttributeSet(attribute.NewSet(group))
		o.ObserveInt64(in.groupMembers, int64(g.Members), attrs)
		o.ObserveInt64(in.groupGeneration, int64(g.Generation), attrs)
		o.ObserveInt64(in.groupRebalances, g.Rebalances, attrs)
		for _, s := range in.groupStates {
			v := int64(0)
			if g.State == s {
				v = 1
			}
			o.ObserveInt64(in.groupState, v, metric.WithAttributes(group, in.stateAttrs[s]))
		}
		for _, off := range g.Offsets {
			attrs := metric.WithAttributeSet(attribute.NewSet(group, topicKey.String(off.Topic), partitionKey.String(strconv.FormatInt(int64(off.Partition), 10))))
			o.ObserveInt64(in.groupCommitted, off.Committed, attrs)
			if off.HighWatermark >= 0 { // the topic exists
				o.ObserveInt64(in.groupLag, off.Lag, attrs)
			}
		}
	}
	r := &st.Recovery
	clean := int64(0)
	if r.CleanShutdown {
		clean = 1
	}
	o.ObserveInt64(in.recoveryClean, clean)
	o.ObserveInt64(in.recoverySegments, int64(r.SegmentsScanned))
	o.ObserveInt64(in.recoveryScanned, r.BytesScanned)
	o.ObserveInt64(in.recoveryTruncated, r.BytesTruncated)
	o.ObserveInt64(in.recoveryIndexes, int64(r.IndexesRebuilt))
	o.ObserveInt64(in.recoveryRepaired, int64(len(r.Repaired)))
	o.ObserveFloat64(in.recoveryDuration, r.Duration.Seconds())
}
