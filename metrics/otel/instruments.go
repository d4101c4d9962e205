package eventlogotel

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
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

// Options tune Register and NewHistogramProducer. A nil *Options is all
// defaults.
type Options struct {
	// Attributes are added to every data point: to tell apart several
	// Logs exporting through one MeterProvider, for example
	// attribute.String("log", "orders"). Their keys must differ from those
	// of the metrics' own attributes.
	Attributes []attribute.KeyValue
}

// ErrAlreadyRegistered is returned by Register for a MeterProvider that
// already observes a Log, through a Registration not yet unregistered,
// with the same Options.Attributes: the two would report the same
// series, which the SDK merges (adding counters, keeping one gauge).
var ErrAlreadyRegistered = errors.New("eventlogotel: a Log is already registered with this MeterProvider and the same Options.Attributes")

// ownKeys are the attribute keys of the metrics themselves, which
// Options.Attributes may not use.
var ownKeys = []attribute.Key{topicKey, partitionKey, groupKey, groupStateKey, semconv.DiskIODirectionKey}

// extraAttributes checks and returns opts' attributes.
func extraAttributes(opts *Options) ([]attribute.KeyValue, error) {
	if opts == nil {
		return nil, nil
	}
	seen := make(map[attribute.Key]bool, len(opts.Attributes))
	for _, kv := range opts.Attributes {
		switch {
		case !kv.Valid():
			return nil, fmt.Errorf("eventlogotel: Options.Attributes holds an invalid attribute %q (empty key or no value)", kv.Key)
		case slices.Contains(ownKeys, kv.Key):
			return nil, fmt.Errorf("eventlogotel: Options.Attributes uses key %q, an attribute of the metrics themselves", kv.Key)
		case seen[kv.Key]:
			return nil, fmt.Errorf("eventlogotel: Options.Attributes holds key %q twice", kv.Key)
		}
		seen[kv.Key] = true
	}
	return slices.Clone(opts.Attributes), nil
}

// withExtra returns the attribute set of kv and extra.
func withExtra(extra []attribute.KeyValue, kv ...attribute.KeyValue) attribute.Set {
	return attribute.NewSet(append(kv, extra...)...)
}

// registrations holds the (MeterProvider, Options.Attributes) pairs
// observed by Registrations not yet unregistered, so that Register can
// refuse a second Log whose series would merge with the first's. It is the
// package's only mutable state: the SDK keeps no record of what callbacks
// observe that Register could ask instead.
var registrations struct {
	sync.Mutex
	live map[registrationKey]bool
}

type registrationKey struct {
	mp    metric.MeterProvider
	attrs attribute.Distinct
}

// claim records key as observed; it fails if it is already. A
// MeterProvider that cannot be a map key is not tracked: one whose type is
// not comparable, and one whose type is but whose value holds one that is
// not (a struct wrapping, in an interface field, a provider with a slice),
// which as a key would panic.
func claim(mp metric.MeterProvider, attrs attribute.Set) (release func(), err error) {
	if !reflect.ValueOf(mp).Comparable() {
		return func() {}, nil
	}
	key := registrationKey{mp, attrs.Equivalent()}
	registrations.Lock()
	defer registrations.Unlock()
	if registrations.live[key] {
		return nil, fmt.Errorf("%w %v: give each Log distinct Options.Attributes, such as attribute.String(\"log\", name)", ErrAlreadyRegistered, attrs.ToSlice())
	}
	if registrations.live == nil {
		registrations.live = make(map[registrationKey]bool)
	}
	registrations.live[key] = true
	return func() {
		registrations.Lock()
		defer registrations.Unlock()
		delete(registrations.live, key)
	}, nil
}

// registration releases its claim when unregistered.
type registration struct {
	embedded.Registration
	callback metric.Registration
	release  func()
	once     sync.Once
}

// Unregister stops observing the Log.
func (r *registration) Unregister() error {
	if err := r.callback.Unregister(); err != nil {
		return err
	}
	r.once.Do(r.release)
	return nil
}

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
	recoveryRepaired, recoveryLost         metric.Int64ObservableCounter
	recoveryDuration                       metric.Float64ObservableGauge

	observables []metric.Observable // all of the above
	groupStates []eventlog.GroupState
	stateAttrs  map[eventlog.GroupState]attribute.KeyValue
	extra       []attribute.KeyValue     // Options.Attributes
	logAttrs    metric.MeasurementOption // extra alone, for the Log-wide metrics
}

// Register creates asynchronous instruments for l's counters and gauges on
// a meter of mp (scope ScopeName), observed by one callback that takes a
// Log.Stats snapshot per collection; it starts no goroutine. The latency
// histograms are not among them: see HistogramProducer. Unregister the
// returned Registration to stop observing l, before or after closing it.
//
// To export several Logs through one MeterProvider, give each distinct
// Options.Attributes; Register refuses, with ErrAlreadyRegistered, a
// second registration whose series would be those of the first. (It can
// tell only for a MeterProvider that can be compared with ==, as the SDK's
// can; one that cannot, such as a struct holding a slice, is not checked.)
func Register(l *eventlog.Log, mp metric.MeterProvider, opts *Options) (metric.Registration, error) {
	if l == nil || mp == nil {
		return nil, errors.New("eventlogotel: Register needs a Log and a MeterProvider")
	}
	extra, err := extraAttributes(opts)
	if err != nil {
		return nil, err
	}
	m := mp.Meter(ScopeName)
	in := &instruments{extra: extra, logAttrs: metric.WithAttributeSet(withExtra(extra))}
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
	in.recoveryClean = i64g("eventlog.recovery.clean_shutdown", "1", "1 if the log had been closed cleanly before it was opened, or was created by the open, so that nothing was scanned.")
	in.recoverySegments = i64c("eventlog.recovery.scanned_segments", "{segment}", "Segments read batch by batch to find their end when the log was opened.")
	in.recoveryScanned = i64c("eventlog.recovery.scanned_size", "By", "Bytes of segments read batch by batch when the log was opened.")
	in.recoveryTruncated = i64c("eventlog.recovery.truncated_size", "By", "Bytes cut from damaged or torn segment tails when the log was opened.")
	in.recoveryIndexes = i64c("eventlog.recovery.rebuilt_indexes", "{index}", "Segment indexes rebuilt from the log because they were missing or inconsistent, at open or on first read.")
	in.recoveryRepaired = i64c("eventlog.recovery.repaired_segments", "{segment}", "Copies kept of corrupt data cut by a repair when the log was opened.")
	in.recoveryLost = i64c("eventlog.recovery.lost_segments", "{partition}", "Partitions whose segment files were found lost when the log was opened, which a repair made go on past them: the records in those files are gone.")
	in.recoveryDuration = f64g("eventlog.recovery.duration", "s", "How long opening the log took to recover it.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	in.groupStates = []eventlog.GroupState{eventlog.GroupEmpty, eventlog.GroupPreparingRebalance, eventlog.GroupCompletingRebalance, eventlog.GroupStable}
	in.stateAttrs = make(map[eventlog.GroupState]attribute.KeyValue)
	for _, s := range in.groupStates {
		in.stateAttrs[s] = groupStateKey.String(string(s))
	}
	release, err := claim(mp, withExtra(extra))
	if err != nil {
		return nil, err
	}
	callback, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		in.observe(o, l.Stats())
		return nil
	}, in.observables...)
	if err != nil {
		release()
		return nil, err
	}
	return &registration{callback: callback, release: release}, nil
}

// observe reports a snapshot.
func (in *instruments) observe(o metric.Observer, st eventlog.Stats) {
	for i := range st.Partitions {
		p := &st.Partitions[i]
		topic, part := topicKey.String(p.Topic), partitionKey.String(strconv.FormatInt(int64(p.Partition), 10))
		attrs := metric.WithAttributeSet(withExtra(in.extra, topic, part))
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
		o.ObserveInt64(in.cleanerIO, p.Cleaner.BytesRead, metric.WithAttributeSet(withExtra(in.extra, topic, part, semconv.DiskIODirectionRead)))
		o.ObserveInt64(in.cleanerIO, p.Cleaner.BytesWritten, metric.WithAttributeSet(withExtra(in.extra, topic, part, semconv.DiskIODirectionWrite)))
		o.ObserveInt64(in.cleanerRemoved, p.Cleaner.RecordsRemoved, attrs)
	}
	o.ObserveInt64(in.cleanerMapMax, st.Cleaner.MapBytes, in.logAttrs)
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
		attrs := metric.WithAttributeSet(withExtra(in.extra, group))
		o.ObserveInt64(in.groupMembers, int64(g.Members), attrs)
		o.ObserveInt64(in.groupGeneration, int64(g.Generation), attrs)
		o.ObserveInt64(in.groupRebalances, g.Rebalances, attrs)
		for _, s := range in.groupStates {
			v := int64(0)
			if g.State == s {
				v = 1
			}
			o.ObserveInt64(in.groupState, v, metric.WithAttributeSet(withExtra(in.extra, group, in.stateAttrs[s])))
		}
		for _, off := range g.Offsets {
			attrs := metric.WithAttributeSet(withExtra(in.extra, group, topicKey.String(off.Topic), partitionKey.String(strconv.FormatInt(int64(off.Partition), 10))))
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
	o.ObserveInt64(in.recoveryClean, clean, in.logAttrs)
	o.ObserveInt64(in.recoverySegments, int64(r.SegmentsScanned), in.logAttrs)
	o.ObserveInt64(in.recoveryScanned, r.BytesScanned, in.logAttrs)
	o.ObserveInt64(in.recoveryTruncated, r.BytesTruncated, in.logAttrs)
	o.ObserveInt64(in.recoveryIndexes, int64(r.IndexesRebuilt), in.logAttrs)
	o.ObserveInt64(in.recoveryRepaired, int64(len(r.Repaired)), in.logAttrs)
	o.ObserveInt64(in.recoveryLost, int64(len(r.LostSegments)), in.logAttrs)
	o.ObserveFloat64(in.recoveryDuration, r.Duration.Seconds(), in.logAttrs)
}
