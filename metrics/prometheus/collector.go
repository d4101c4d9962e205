package eventlogprom

import (
	"errors"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventlog/eventlog"
)

// Options tune a Collector. A nil *Options is all defaults.
type Options struct {
	// ConstLabels are added to every metric: to tell apart several Logs
	// registered with one registry, for example {"log": "orders"}. Their
	// names must differ from those of the metrics' own labels (topic,
	// partition, group, state, and le of the histograms' buckets), or
	// registering the Collector fails.
	ConstLabels prometheus.Labels
}

// Collector is a prometheus.Collector of the statistics of an
// eventlog.Log. Each Collect takes one Log.Stats snapshot; the Collector
// starts no goroutine and keeps no state between scrapes. It is safe for
// concurrent use, and after the Log is closed it collects what Stats
// still reports.
type Collector struct {
	log    *eventlog.Log
	bounds []float64 // upper bounds of the latency buckets, in seconds
	// invalid, for a Collector made without a Log or with a constant
	// label the histograms cannot have, makes registering it fail and
	// every scrape report why.
	invalid *prometheus.Desc

	appendedRecords, appendedBytes         *prometheus.Desc
	appendDuration, fsyncDuration          *prometheus.Desc
	highWatermark, logStart, logEnd        *prometheus.Desc
	segments, size, dirtyRatio             *prometheus.Desc
	cleanerRuns, cleanerRead, cleanerWrite *prometheus.Desc
	cleanerRemoved, cleanerMap             *prometheus.Desc
	groupMembers, groupGeneration          *prometheus.Desc
	groupRebalances, groupState            *prometheus.Desc
	groupCommitted, groupLag               *prometheus.Desc
	recoveryClean, recoverySegments        *prometheus.Desc
	recoveryScanned, recoveryTruncated     *prometheus.Desc
	recoveryIndexes, recoveryRepaired      *prometheus.Desc
	recoveryLost, recoveryDuration         *prometheus.Desc
}

// groupStates are the states eventlog_group_state has a series for.
var groupStates = []eventlog.GroupState{
	eventlog.GroupEmpty, eventlog.GroupPreparingRebalance,
	eventlog.GroupCompletingRebalance, eventlog.GroupStable,
}

// NewCollector returns a Collector of l's statistics. Register it with a
// prometheus.Registerer; the metrics it exports are listed in the package
// documentation.
func NewCollector(l *eventlog.Log, opts *Options) *Collector {
	var cl prometheus.Labels
	if opts != nil {
		cl = opts.ConstLabels
	}
	c := &Collector{log: l}
	_, le := cl["le"]
	switch {
	case l == nil:
		c.invalid = prometheus.NewInvalidDesc(errors.New("eventlogprom: NewCollector was given a nil *eventlog.Log"))
	case le:
		// The registry checks constant labels against variable ones, but
		// not against the le of a constant histogram's buckets.
		c.invalid = prometheus.NewInvalidDesc(errors.New(`eventlogprom: Options.ConstLabels uses "le", the label of the latency histograms' buckets`))
	}
	for _, b := range eventlog.LatencyBucketBounds() {
		c.bounds = append(c.bounds, b.Seconds())
	}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("eventlog_"+name, help, labels, cl)
	}
	pl, gl, ol := []string{"topic", "partition"}, []string{"group"}, []string{"group", "topic", "partition"}
	c.appendedRecords = d("partition_appended_records_total", "Records appended to the partition since the log was opened.", pl)
	c.appendedBytes = d("partition_appended_bytes_total", "Bytes of record batches appended to the partition since the log was opened.", pl)
	c.appendDuration = d("partition_append_duration_seconds", "Time from the partition getting an encoded batch to acknowledging it, fsync wait included; of the appends acknowledged on the write to the OS, one in 8.", pl)
	c.fsyncDuration = d("partition_fsync_duration_seconds", "Time the fsyncs of the partition's segment files took.", pl)
	c.highWatermark = d("partition_high_watermark", "Offset after the last record readers may see: the end of what is as durable as the topic promises.", pl)
	c.logStart = d("partition_log_start_offset", "First offset still stored in the partition.", pl)
	c.logEnd = d("partition_log_end_offset", "Offset the next record appended to the partition will get.", pl)
	c.segments = d("partition_segments", "Segment files of the partition, the active one included.", pl)
	c.size = d("partition_size_bytes", "Bytes of the partition's segment files, indexes not counted.", pl)
	c.dirtyRatio = d("partition_dirty_ratio", "Share of the bytes of a compacted partition's closed segments written since its last cleaning.", pl)
	c.cleanerRuns = d("partition_cleaner_runs_total", "Cleaning passes of the log cleaner completed on the partition since the log was opened.", pl)
	c.cleanerRead = d("partition_cleaner_read_bytes_total", "Bytes of segments the log cleaner read from the partition.", pl)
	c.cleanerWrite = d("partition_cleaner_written_bytes_total", "Bytes of cleaned segments the log cleaner wrote for the partition.", pl)
	c.cleanerRemoved = d("partition_cleaner_removed_records_total", "Records the log cleaner removed from the partition: superseded, expired tombstones, keyless.", pl)
	c.cleanerMap = d("cleaner_map_max_bytes", "Most memory one cleaning's key to offset map used since the log was opened.", nil)
	c.groupMembers = d("group_members", "Members of the consumer group.", gl)
	c.groupGeneration = d("group_generation", "Generation of the consumer group, bumped by every rebalance.", gl)
	c.groupRebalances = d("group_rebalances_total", "Rebalances the consumer group completed since the log was opened.", gl)
	c.groupState = d("group_state", "1 for the state the consumer group is in, 0 for the others.", []string{"group", "state"})
	c.groupCommitted = d("group_committed_offset", "Offset the consumer group committed for the partition: the next record it will consume.", ol)
	c.groupLag = d("group_lag", "Records of the partition the consumer group has not consumed: high watermark minus committed offset.", ol)
	c.recoveryClean = d("recovery_clean_shutdown", "1 if the log had been closed cleanly before it was opened, or was created by the open, so that nothing was scanned.", nil)
	c.recoverySegments = d("recovery_scanned_segments_total", "Segments read batch by batch to find their end when the log was opened.", nil)
	c.recoveryScanned = d("recovery_scanned_bytes_total", "Bytes of segments read batch by batch when the log was opened.", nil)
	c.recoveryTruncated = d("recovery_truncated_bytes_total", "Bytes cut from damaged or torn segment tails when the log was opened.", nil)
	c.recoveryIndexes = d("recovery_rebuilt_indexes_total", "Segment indexes rebuilt from the log because they were missing or inconsistent, at open or on first read.", nil)
	c.recoveryRepaired = d("recovery_repaired_segments_total", "Copies kept of corrupt data cut by a repair when the log was opened.", nil)
	c.recoveryLost = d("recovery_lost_segments_total", "Partitions whose segment files were found lost when the log was opened, which a repair made go on past them: the records in those files are gone.", nil)
	c.recoveryDuration = d("recovery_duration_seconds", "How long opening the log took to recover it.", nil)
	return c
}

func (c *Collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		c.appendedRecords, c.appendedBytes, c.appendDuration, c.fsyncDuration,
		c.highWatermark, c.logStart, c.logEnd, c.segments, c.size, c.dirtyRatio,
		c.cleanerRuns, c.cleanerRead, c.cleanerWrite, c.cleanerRemoved, c.cleanerMap,
		c.groupMembers, c.groupGeneration, c.groupRebalances, c.groupState,
		c.groupCommitted, c.groupLag,
		c.recoveryClean, c.recoverySegments, c.recoveryScanned, c.recoveryTruncated,
		c.recoveryIndexes, c.recoveryRepaired, c.recoveryLost, c.recoveryDuration,
	}
}

// Describe sends the descriptors of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.invalid != nil {
		ch <- c.invalid
		return
	}
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect takes a Log.Stats snapshot and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.invalid != nil {
		ch <- prometheus.NewInvalidMetric(c.invalid, c.invalid.Err())
		return
	}
	st := c.log.Stats()
	e := emitter{ch: ch}
	for i := range st.Partitions {
		c.collectPartition(&e, &st.Partitions[i])
	}
	e.gauge(c.cleanerMap, float64(st.Cleaner.MapBytes))
	seen := make(map[string]bool, len(st.Groups))
	for i := range st.Groups {
		g := &st.Groups[i]
		// Label values must be UTF-8; a group ID need not be. Two IDs
		// that differ only in invalid bytes would make one series, which
		// a registry refuses: the second is left out.
		id := strings.ToValidUTF8(g.GroupID, "\uFFFD")
		if seen[id] {
			continue
		}
		seen[id] = true
		c.collectGroup(&e, g, id)
	}
	r := &st.Recovery
	clean := 0.0
	if r.CleanShutdown {
		clean = 1
	}
	e.gauge(c.recoveryClean, clean)
	e.counter(c.recoverySegments, float64(r.SegmentsScanned))
	e.counter(c.recoveryScanned, float64(r.BytesScanned))
	e.counter(c.recoveryTruncated, float64(r.BytesTruncated))
	e.counter(c.recoveryIndexes, float64(r.IndexesRebuilt))
	e.counter(c.recoveryRepaired, float64(len(r.Repaired)))
	e.counter(c.recoveryLost, float64(len(r.LostSegments)))
	e.gauge(c.recoveryDuration, r.Duration.Seconds())
}

func (c *Collector) collectPartition(e *emitter, p *eventlog.PartitionStats) {
	lv := []string{p.Topic, strconv.FormatInt(int64(p.Partition), 10)}
	e.counter(c.appendedRecords, float64(p.AppendedRecords), lv...)
	e.counter(c.appendedBytes, float64(p.AppendedBytes), lv...)
	c.histogram(e, c.appendDuration, &p.AppendLatency, lv)
	c.histogram(e, c.fsyncDuration, &p.FsyncLatency, lv)
	e.gauge(c.highWatermark, float64(p.HighWatermark), lv...)
	e.gauge(c.logStart, float64(p.LogStartOffset), lv...)
	e.gauge(c.logEnd, float64(p.LogEndOffset), lv...)
	e.gauge(c.segments, float64(p.Segments), lv...)
	e.gauge(c.size, float64(p.Bytes), lv...)
	// The cleaner's series exist for partitions it may clean, or did.
	if p.CleanupPolicy == eventlog.CleanupDelete && p.Cleaner.Runs == 0 {
		return
	}
	e.gauge(c.dirtyRatio, p.DirtyRatio, lv...)
	e.counter(c.cleanerRuns, float64(p.Cleaner.Runs), lv...)
	e.counter(c.cleanerRead, float64(p.Cleaner.BytesRead), lv...)
	e.counter(c.cleanerWrite, float64(p.Cleaner.BytesWritten), lv...)
	e.counter(c.cleanerRemoved, float64(p.Cleaner.RecordsRemoved), lv...)
}

func (c *Collector) collectGroup(e *emitter, g *eventlog.GroupStats, id string) {
	e.gauge(c.groupMembers, float64(g.Members), id)
	e.gauge(c.groupGeneration, float64(g.Generation), id)
	e.counter(c.groupRebalances, float64(g.Rebalances), id)
	for _, s := range groupStates {
		v := 0.0
		if g.State == s {
			v = 1
		}
		e.gauge(c.groupState, v, id, string(s))
	}
	for _, o := range g.Offsets {
		lv := []string{id, o.Topic, strconv.FormatInt(int64(o.Partition), 10)}
		e.gauge(c.groupCommitted, float64(o.Committed), lv...)
		if o.HighWatermark >= 0 { // the topic exists
			e.gauge(c.groupLag, float64(o.Lag), lv...)
		}
	}
}

// histogram sends h with Prometheus' cumulative buckets.
func (c *Collector) histogram(e *emitter, d *prometheus.Desc, h *eventlog.LatencyHistogram, lv []string) {
	buckets := make(map[float64]uint64, len(c.bounds))
	var n uint64
	for i, bound := range c.bounds {
		n += uint64(h.Counts[i])
		buckets[bound] = n
	}
	n += uint64(h.Counts[len(c.bounds)])
	m, err := prometheus.NewConstHistogram(d, n, h.Sum.Seconds(), buckets, lv...)
	e.send(d, m, err)
}

// emitter sends constant metrics, or, should one be malformed, an invalid
// metric that makes the scrape report the error instead of panicking.
type emitter struct {
	ch chan<- prometheus.Metric
}

func (e *emitter) counter(d *prometheus.Desc, v float64, lv ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.CounterValue, v, lv...)
	e.send(d, m, err)
}

func (e *emitter) gauge(d *prometheus.Desc, v float64, lv ...string) {
	m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, lv...)
	e.send(d, m, err)
}

func (e *emitter) send(d *prometheus.Desc, m prometheus.Metric, err error) {
	if err != nil {
		m = prometheus.NewInvalidMetric(d, err)
	}
	e.ch <- m
}
