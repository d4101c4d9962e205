// Package eventlogprom exports the statistics of an eventlog.Log to
// Prometheus: a prometheus.Collector that takes one Log.Stats snapshot per
// scrape. It is a module of its own, so that the eventlog core does not
// depend on the Prometheus client.
//
//	l, err := eventlog.Open(dir, nil)
//	...
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(eventlogprom.NewCollector(l, nil))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// To export several Logs through one registry, give each collector a
// constant label that tells them apart — every one of them, the first
// included: the registry refuses series of one name with different label
// names, so a collector registered with nil Options next to a labelled
// one makes MustRegister panic:
//
//	reg.MustRegister(eventlogprom.NewCollector(orders, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "orders"}}))
//	reg.MustRegister(eventlogprom.NewCollector(payments, &eventlogprom.Options{ConstLabels: prometheus.Labels{"log": "payments"}}))
//
// # Metrics
//
// Counters count since the Log was opened, so they restart at zero with
// the process, as Prometheus' rate and increase expect. Series of a
// partition have the labels topic and partition (internal topics such as
// __consumer_offsets included); those of a consumer group have the label
// group, and its offsets also topic and partition.
//
//	metric                                           type       meaning
//	eventlog_partition_appended_records_total        counter    records appended (Append, producers, commits to internal topics)
//	eventlog_partition_appended_bytes_total          counter    bytes of the record batches appended
//	eventlog_partition_append_duration_seconds       histogram  from the partition getting an encoded batch to acknowledging it, fsync wait included (appends acknowledged on the write to the OS: one in 8)
//	eventlog_partition_fsync_duration_seconds        histogram  fsyncs of the segment files: group commits, background fsyncs, segment rolls
//	eventlog_partition_high_watermark                gauge      offset after the last record readers may see
//	eventlog_partition_log_start_offset              gauge      first offset still stored
//	eventlog_partition_log_end_offset                gauge      offset the next appended record gets
//	eventlog_partition_segments                      gauge      segment files, the active one included
//	eventlog_partition_size_bytes                    gauge      bytes of the segment files (indexes not counted)
//	eventlog_partition_dirty_ratio                   gauge      compacted topics: share of closed-segment bytes written since the last cleaning
//	eventlog_partition_cleaner_runs_total            counter    compacted topics: cleaning passes completed
//	eventlog_partition_cleaner_read_bytes_total      counter    compacted topics: bytes the cleaner read
//	eventlog_partition_cleaner_written_bytes_total   counter    compacted topics: bytes of cleaned segments written
//	eventlog_partition_cleaner_removed_records_total counter    compacted topics: records the cleaner removed
//	eventlog_cleaner_map_max_bytes                   gauge      most memory one cleaning's key map used
//	eventlog_group_members                           gauge      members of the group
//	eventlog_group_generation                        gauge      the group's generation
//	eventlog_group_rebalances_total                  counter    rebalances the group completed
//	eventlog_group_state                             gauge      1 for the group's state (label state: Empty, PreparingRebalance, CompletingRebalance, Stable), 0 for the others
//	eventlog_group_committed_offset                  gauge      the group's committed offset of a partition
//	eventlog_group_lag                               gauge      high watermark minus committed offset (left out once the topic is deleted)
//	eventlog_recovery_clean_shutdown                 gauge      1 if the log was closed cleanly before Open, or Open created it
//	eventlog_recovery_scanned_segments_total         counter    segments Open scanned batch by batch
//	eventlog_recovery_scanned_bytes_total            counter    bytes Open scanned
//	eventlog_recovery_truncated_bytes_total          counter    bytes Open cut from torn or damaged tails
//	eventlog_recovery_rebuilt_indexes_total          counter    indexes rebuilt, at Open or on a segment's first read
//	eventlog_recovery_repaired_segments_total        counter    copies kept of corrupt data cut by Options.Repair
//	eventlog_recovery_lost_segments_total            counter    partitions Options.Repair restarted past lost segment files (RecoveryStats.LostSegments)
//	eventlog_recovery_duration_seconds               gauge      how long Open took to recover
//
// The latency histograms have the fixed buckets of
// eventlog.LatencyBucketBounds: 1µs doubling up to about 16.8s, so the le
// labels read 1e-06, 2e-06, 4e-06, … 16.777216. The cleaner's series exist
// for partitions of compacted topics, and for others the cleaner worked on
// before their policy changed.
//
// A group ID need not be UTF-8, and a label value must: invalid bytes show
// as U+FFFD, and should two group IDs then look the same, only the first
// is exported.
package eventlogprom
