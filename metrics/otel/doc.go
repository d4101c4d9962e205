// Package eventlogotel exports the statistics of an eventlog.Log as
// OpenTelemetry metrics. It is a module of its own, so that the eventlog
// core does not depend on OpenTelemetry.
//
// Register creates asynchronous instruments — observable counters,
// up-down counters and gauges — for the Log's counters and gauges, with
// one callback that takes a Log.Stats snapshot per collection; they work
// with any MeterProvider. The two latency histograms come from a
// HistogramProducer given to the SDK's readers, because the OpenTelemetry
// API has no asynchronous histogram (HistogramProducer says why this way):
//
//	l, err := eventlog.Open(dir, nil)
//	...
//	exporter, err := otlpmetrichttp.New(ctx) // or any exporter
//	reader := sdkmetric.NewPeriodicReader(exporter,
//		sdkmetric.WithProducer(eventlogotel.NewHistogramProducer(l, nil)))
//	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
//	reg, err := eventlogotel.Register(l, mp, nil)
//	...
//	defer reg.Unregister()
//
// Nothing runs between collections: the cost is one Stats snapshot per
// collection.
//
// To export several Logs through one MeterProvider, give each, in Register
// and in its HistogramProducer, Options.Attributes that tell them apart:
//
//	opts := &eventlogotel.Options{Attributes: []attribute.KeyValue{attribute.String("log", "orders")}}
//	reg, err := eventlogotel.Register(orders, mp, opts)
//
// Without them the Logs' series would be the same ones, which the SDK
// merges; Register refuses such a second registration with
// ErrAlreadyRegistered.
//
// # Metrics
//
// Counters are cumulative from when the Log was opened. Partition metrics
// have the attributes messaging.destination.name (the topic) and
// messaging.destination.partition.id; group metrics have
// messaging.consumer.group.name, and the group's offsets the topic and
// partition too, as in OpenTelemetry's messaging conventions. Internal
// topics such as __consumer_offsets are included.
//
//	metric                               instrument      unit          meaning
//	eventlog.partition.appended.records  counter         {record}      records appended (Append, producers, commits to internal topics)
//	eventlog.partition.appended.size     counter         By            bytes of the record batches appended
//	eventlog.partition.append.duration   histogram       s             from the partition getting an encoded batch to acknowledging it, fsync wait included; one in 8 appends acknowledged on the write to the OS (HistogramProducer)
//	eventlog.partition.fsync.duration    histogram       s             fsyncs of the segment files: group commits, background fsyncs, segment rolls (HistogramProducer)
//	eventlog.partition.high_watermark    gauge           {offset}      offset after the last record readers may see
//	eventlog.partition.log_start_offset  gauge           {offset}      first offset still stored
//	eventlog.partition.log_end_offset    gauge           {offset}      offset the next appended record gets
//	eventlog.partition.segments          updowncounter   {segment}     segment files, the active one included
//	eventlog.partition.size              updowncounter   By            bytes of the segment files (indexes not counted)
//	eventlog.partition.dirty_ratio       gauge           1             compacted topics: share of closed-segment bytes written since the last cleaning
//	eventlog.partition.cleaner.runs      counter         {run}         compacted topics: cleaning passes completed
//	eventlog.partition.cleaner.io        counter         By            compacted topics: bytes the cleaner read and wrote (disk.io.direction: read, write)
//	eventlog.partition.cleaner.removed   counter         {record}      compacted topics: records the cleaner removed
//	eventlog.cleaner.map.max_size        gauge           By            most memory one cleaning's key map used
//	eventlog.group.members               updowncounter   {member}      members of the group
//	eventlog.group.generation            gauge           {generation}  the group's generation
//	eventlog.group.rebalances            counter         {rebalance}   rebalances the group completed
//	eventlog.group.state                 gauge           1             1 for the group's state (eventlog.group.state: Empty, PreparingRebalance, CompletingRebalance, Stable), 0 for the others
//	eventlog.group.committed_offset      gauge           {offset}      the group's committed offset of a partition
//	eventlog.group.lag                   gauge           {record}      high watermark minus committed offset (left out once the topic is deleted)
//	eventlog.recovery.clean_shutdown     gauge           1             1 if the log was closed cleanly before Open, or Open created it
//	eventlog.recovery.scanned_segments   counter         {segment}     segments Open scanned batch by batch
//	eventlog.recovery.scanned_size       counter         By            bytes Open scanned
//	eventlog.recovery.truncated_size     counter         By            bytes Open cut from torn or damaged tails
//	eventlog.recovery.rebuilt_indexes    counter         {index}       indexes rebuilt, at Open or on a segment's first read
//	eventlog.recovery.repaired_segments  counter         {segment}     copies kept of corrupt data cut by Options.Repair
//	eventlog.recovery.lost_segments      counter         {partition}   partitions Options.Repair restarted past lost segment files (RecoveryStats.LostSegments)
//	eventlog.recovery.duration           gauge           s             how long Open took to recover
//
// The histograms' explicit bucket bounds are those of
// eventlog.LatencyBucketBounds: 1µs doubling up to about 16.8s. The
// cleaner's series exist for partitions of compacted topics, and for
// others the cleaner worked on before their policy changed.
//
// A group ID need not be UTF-8, and exporters send attribute values as
// UTF-8: invalid bytes show as U+FFFD, and should two group IDs then look
// the same, only the first is observed.
package eventlogotel
