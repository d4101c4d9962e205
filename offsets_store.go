package eventlog

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"sync"
)

// offsetStore is the in-memory view of __consumer_offsets: every group's
// committed offsets as of the topic's high watermark. Commits append to the
// topic; a commit is applied to the map once it is below the high
// watermark, that is as durable as the topic promises, so the map never
// holds an offset a crash could take back.
type offsetStore struct {
	log   *Log
	parts []*Partition

	// gate is held for reading by commits, from their check that the
	// partitions exist to their append, and for writing by the deletions
	// of DeleteTopic and DeleteGroup, so that no commit of a deleted topic
	// lands after the tombstones that delete its offsets, and no commit of
	// a transaction between their dropTxnCommits and their tombstones.
	gate sync.RWMutex

	mu struct {
		sync.Mutex
		// committed is keyed by the offset's record key without its type
		// field: group, topic and partition in Kafka's encoding (see
		// offsetID). It is one string, quick to hash and small to store,
		// which matters when Open replays many.
		committed map[string]committedOffset
		// pending are commits written but not yet below the high
		// watermark; reads apply those that got there.
		pending []pendingCommit
		// txnPending are the commits of open transactions, by producer
		// id, applied when their COMMIT marker is (txn_offsets.go).
		txnPending map[int64][]pendingCommit
		// txnWrites counts the calls of writeTxn, naming each.
		txnWrites uint64
		// stableWatchers are the notify channels of consumers waiting for
		// a transaction's offsets to be decided (unstableWatch); each is
		// sent to once, at the next change of what is pending.
		stableWatchers map[chan<- struct{}]struct{}
		// groupMetadata is each group's last metadata record
		// (group_metadata.go).
		groupMetadata map[string]storedGroupMetadata
	}
}

// committedOffset is one committed offset; at is the position of its record
// in its __consumer_offsets partition, which orders updates.
type committedOffset struct {
	offset     int64
	metadata   string
	commitTime int64 // unix milliseconds
	at         int64
}

type pendingCommit struct {
	part   *Partition
	base   int64 // offset of the batch's first record
	end    int64 // offset after its last record, or after its transaction's marker: durable from there
	group  string
	values []offsetUpdate
	// txnWrite, for a commit of a transaction, names the writeTxn call
	// appending its batch; 0 once the batch has its offset.
	txnWrite uint64
	// committedTxn is set on a commit of a transaction whose COMMIT marker
	// is written, until the marker is durable: it is unstable meanwhile.
	committedTxn bool
}

type offsetUpdate struct {
	tp     TopicPartition
	v      offsetValue
	delete bool // a tombstone: the committed offset goes
}

// appendOffsetID appends the identity of a committed offset: its record key
// without the type field.
func appendOffsetID(dst []byte, group string, tp TopicPartition) []byte {
	dst = appendKafkaString(dst, group)
	dst = appendKafkaString(dst, tp.Topic)
	return binary.BigEndian.AppendUint32(dst, uint32(tp.Partition))
}

// parseOffsetID is the inverse of appendOffsetID.
func parseOffsetID(id string) (group string, tp TopicPartition) {
	b := make([]byte, 2, 2+len(id))
	binary.BigEndian.PutUint16(b, offsetCommitKeyType)
	group, tp, _, _ = decodeOffsetKey(append(b, id...))
	return group, tp
}

func newOffsetStore(l *Log, t *topic, size int) *offsetStore {
	s := &offsetStore{log: l, parts: t.partitions}
	s.mu.committed = make(map[string]committedOffset, size)
	s.mu.groupMetadata = make(map[string]storedGroupMetadata)
	return s
}

// openOffsetStore opens the store on an existing __consumer_offsets and
// replays it, writing nothing; Open calls it before anything is appended,
// and the replayer's lowerPastLogEnd once it may append.
func openOffsetStore(l *Log, t *topic) (*offsetStore, *replayer, error) {
	var records, bytes int64
	for _, p := range t.partitions {
		records += p.HighWatermark() - p.LogStartOffset()
		for _, seg := range *p.segments.Load() {
			bytes += seg.size.Load()
		}
	}
	// Sized for every record being a different offset, within reason, and
	// within what the segments' bytes hold: the offsets of a hostile last
	// batch may claim 2^31 records in a few bytes.
	s := newOffsetStore(l, t, int(min(records, bytes/minRecordSize, 1<<20)))
	r := replayer{s: s, ends: make(map[string][]int64), past: make(map[string]bool)}
	for _, p := range s.parts {
		if err := r.replay(p, p.LogStartOffset(), p.HighWatermark()); err != nil {
			return nil, nil, err
		}
	}
	return s, &r, nil
}

// replayer applies the records of __consumer_offsets to an offsetStore at
// Open, and remembers the committed offsets that point past their
// partition's log end.
type replayer struct {
	s *offsetStore

	// Names in the last record, reused while they repeat.
	group, topic, metadata string
	topicEnd               []int64 // ends[topic]

	ends map[string][]int64 // log end of each partition by topic; nil if none
	past map[string]bool    // IDs of committed offsets past the log end
}

// replayChunk is how many bytes of batches replay reads at a time.
const replayChunk = 4 << 20

// replay applies the records of p from offset from up to offset to. A
// partition that holds transactional commits and has records there is
// replayed whole, up to its high watermark (which is to in every caller):
// a transaction's records wait for its marker, which may come after from.
func (r *replayer) replay(p *Partition, from, to int64) error {
	if from >= to {
		return nil // nothing new since a read-only Log's last refresh
	}
	if p.producers.history.Load() {
		return r.replayTransactional(p)
	}
	var recs []Record
	for offset := from; offset < to; {
		var err error
		recs, err = p.read(recs[:0], offset, replayChunk)
		if err != nil {
			return errorf("eventlog: replay committed offsets: %w", err)
		}
		if len(recs) == 0 {
			break
		}
		for i := range recs {
			if err := r.apply(&recs[i]); err != nil {
				return p.errorf("replay committed offsets: offset %d: %w", recs[i].Offset, err)
			}
		}
		offset = recs[len(recs)-1].Offset + 1
		clear(recs)
	}
	return nil
}

// apply applies one record; records come in log order, so the last of a
// key wins. A key or value that does not decode fails Open: skipping it
// could move a committed offset back.
func (r *replayer) apply(rec *Record) error {
	if isGroupMetadataKey(rec.Key) {
		r.applyGroupMetadata(rec)
		return nil
	}
	group, tp, ok, err := decodeOffsetKeyLike(rec.Key, r.group, r.topic)
	if err != nil || !ok {
		return err
	}
	r.group = group
	if tp.Topic != r.topic || r.topicEnd == nil {
		r.topic, r.topicEnd = tp.Topic, r.logEnds(tp.Topic)
	}
	id := string(rec.Key[2:])
	if rec.Value == nil {
		delete(r.s.mu.committed, id)
		delete(r.past, id)
		return nil
	}
	v, err := decodeOffsetValueLike(rec.Value, r.metadata)
	if err != nil {
		return err
	}
	r.metadata = v.metadata
	r.s.mu.committed[id] = committedOffset{offset: v.offset, metadata: v.metadata, commitTime: v.commitTime, at: rec.Offset}
	if tp.Partition >= 0 && int(tp.Partition) < len(r.topicEnd) && v.offset > r.topicEnd[tp.Partition] {
		r.past[id] = true
	} else if len(r.past) > 0 {
		delete(r.past, id)
	}
	return nil
}

// logEnds returns the log ends of a topic's partitions, empty if the topic
// does not exist.
func (r *replayer) logEnds(topic string) []int64 {
	if ends, ok := r.ends[topic]; ok {
		return ends
	}
	ends := []int64{}
	if t, err := r.s.log.topic(topic); err == nil {
		ends = make([]int64, len(t.partitions))
		for i, p := range t.partitions {
			ends[i] = p.HighWatermark()
		}
	}
	r.ends[topic] = ends
	return ends
}

// notePendingPastLogEnd adds to the offsets lowerPastLogEnd checks those
// of transactions still pending after the replay that point past their
// partition's log end: Open finishes a transaction a crash interrupted
// after its decision, and its offsets then become committed ones. It runs
// at Open before the transactions are finished.
func (r *replayer) notePendingPastLogEnd() {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	var id []byte
	for _, pcs := range s.mu.txnPending {
		for _, pc := range pcs {
			for _, u := range pc.values {
				ends := r.logEnds(u.tp.Topic)
				if !u.delete && u.tp.Partition >= 0 && int(u.tp.Partition) < len(ends) && u.v.offset > ends[u.tp.Partition] {
					id = appendOffsetID(id[:0], pc.group, u.tp)
					r.past[string(id)] = true
				}
			}
		}
	}
}

// lowerPastLogEnd lowers, durably, every committed offset that points past
// its partition's log end to that log end. It runs at Open, once the
// transactions a crash interrupted are finished, before any other append.
// Such an offset means that records the group consumed were lost in a
// crash (a topic acknowledging at DurabilityOS, then a power loss): the
// next records appended will take those offsets again, and a consumer
// resuming past them would skip them. The correction is written, not only
// applied, because once new records fill the gap the stored offset would
// look valid again at the next Open. For the same reason it is fsynced
// whatever the Log's durability: on a DurabilityOS Log a correction only
// written could be lost in a power loss that keeps the records appended
// after it. Offsets of topics that no longer exist are kept as they are.
func (r *replayer) lowerPastLogEnd() error {
	ids := make([]string, 0, len(r.past))
	for id := range r.past {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	// The commits of the transactions just finished, once their markers
	// are durable, are committed offsets now.
	r.s.mu.Lock()
	r.s.applyDurableLocked()
	r.s.mu.Unlock()
	for _, id := range ids {
		group, tp := parseOffsetID(id)
		r.s.mu.Lock()
		c, ok := r.s.mu.committed[id]
		r.s.mu.Unlock()
		end := r.ends[tp.Topic][tp.Partition]
		if !ok || c.offset <= end {
			continue // a transaction's offsets, aborted or committed lower
		}
		r.s.log.opts.Logger.Warn("eventlog: committed offset past the log end, lowered to it",
			"group", group, "topic", tp.Topic, "partition", tp.Partition, "committed", c.offset, "log_end", end)
		v := offsetValue{offset: end, epoch: noLeaderEpoch, metadata: c.metadata, commitTime: c.commitTime}
		if _, err := r.s.write(context.Background(), group, []offsetUpdate{{tp: tp, v: v}}, DurabilityFsync); err != nil {
			return errorf("eventlog: lower committed offset of group %q %s: %w", group, tp, err)
		}
	}
	return nil
}

// partitionFor returns the __consumer_offsets partition of a group.
func (s *offsetStore) partitionFor(group string) *Partition {
	n := int32(len(s.parts))
	h := javaStringHash(group)
	if h == math.MinInt32 {
		h = 0 // Kafka's Utils.abs maps MinValue to 0
	}
	if h < 0 {
		h = -h
	}
	return s.parts[h%n]
}

// write appends the updates of one group as one batch, so that a commit of
// several partitions is all or nothing, and applies it once durable. With
// DurabilityOS on an fsync topic the batch becomes durable later, through
// the Log's background fsync; it is applied at the first read after that.
func (s *offsetStore) write(ctx context.Context, group string, updates []offsetUpdate, d Durability) (pendingCommit, error) {
	s.gate.RLock()
	defer s.gate.RUnlock()
	return s.writeLocked(ctx, group, updates, d)
}

// writeLocked is write for a caller holding gate. A commit of a partition
// that does not exist, or whose topic is being deleted, fails with
// ErrTopicNotFound or ErrPartitionNotFound; tombstones always go.
func (s *offsetStore) writeLocked(ctx context.Context, group string, updates []offsetUpdate, d Durability) (pendingCommit, error) {
	recs, err := s.records(group, updates)
	if err != nil {
		return pendingCommit{}, err
	}
	return s.appendLocked(ctx, group, recs, updates, d)
}

// appendLocked appends the records of a commit of updates (and, after
// them, any other records of the group), and applies the updates once
// durable. The caller holds gate, for writing if updates delete offsets
// (see dropTxnCommits).
func (s *offsetStore) appendLocked(ctx context.Context, group string, recs []Record, updates []offsetUpdate, d Durability) (pendingCommit, error) {
	p := s.partitionFor(group)
	s.dropTxnCommits(group, updates)
	base, err := p.appendUnchecked(ctx, recs, AppendOptions{Durability: d})
	if err != nil {
		return pendingCommit{}, err
	}
	pc := pendingCommit{part: p, base: base, end: base + int64(len(recs)), group: group, values: updates}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.pending = append(s.mu.pending, pc)
	s.applyDurableLocked()
	return pc, nil
}

// records returns the records of a commit of updates, filling in their
// commit time.
func (s *offsetStore) records(group string, updates []offsetUpdate) ([]Record, error) {
	recs := make([]Record, len(updates))
	now := s.log.opts.Now()
	for i, u := range updates {
		recs[i] = Record{Key: encodeOffsetKey(nil, group, u.tp), Timestamp: now}
		if u.delete {
			continue
		}
		if part, err := s.log.Partition(u.tp.Topic, u.tp.Partition); err != nil {
			return nil, errorf("eventlog: commit %s: %w", u.tp, err)
		} else if part.deleted.Load() {
			return nil, errorf("eventlog: commit %s: %w", u.tp, part.deletedErr())
		}
		if u.v.commitTime == 0 {
			updates[i].v.commitTime = now.UnixMilli()
		}
		recs[i].Value = encodeOffsetValue(nil, updates[i].v)
	}
	return recs, nil
}

// applyDurableLocked applies the pending commits now below the high
// watermark.
func (s *offsetStore) applyDurableLocked() {
	kept := s.mu.pending[:0]
	var id []byte
	for i := range s.mu.pending {
		pc := &s.mu.pending[i]
		if pc.part.HighWatermark() < pc.end {
			kept = append(kept, *pc)
			continue
		}
		for j, u := range pc.values {
			id = appendOffsetID(id[:0], pc.group, u.tp)
			c := committedOffset{offset: u.v.offset, metadata: u.v.metadata, commitTime: u.v.commitTime, at: pc.base + int64(j)}
			// The commit whose record is last in the log wins, as in
			// Kafka's coordinator and in the cleaned log: a transaction's,
			// applied at its marker, loses to a commit written after its
			// record; commits racing on one key (which ownership rules
			// out otherwise) are applied in log order all the same.
			old, ok := s.mu.committed[string(id)]
			switch {
			case ok && old.at > c.at:
			case u.delete:
				delete(s.mu.committed, string(id))
			default:
				s.mu.committed[string(id)] = c
			}
		}
	}
	clear(s.mu.pending[len(kept):])
	s.mu.pending = kept
}

// flush makes the commits written to the group's __consumer_offsets
// partition durable and applies them. A partition changing owner calls it
// first, so that the new owner sees every commit of the old one, including
// asynchronous ones not yet fsynced. Other records there, such as the
// group metadata a rebalance just wrote, are left to the background fsync:
// the new owner does not wait for them.
func (s *offsetStore) flush(group string) error {
	p := s.partitionFor(group)
	if s.commitsAwaitSync(p) {
		if !s.log.enter() {
			return ErrClosed
		}
		err := p.syncTo(p.written.Load())
		s.log.exit()
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	return nil
}

// commitsAwaitSync reports whether a commit written to p is not durable
// yet. A commit of a member is pending from before its partitions can be
// granted to another (beginCommit and endCommit count it in flight).
func (s *offsetStore) commitsAwaitSync(p *Partition) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	hw := p.HighWatermark()
	for i := range s.mu.pending {
		if pc := &s.mu.pending[i]; pc.part == p && pc.end > hw {
			return true
		}
	}
	return false
}

// committed returns the group's committed offsets of tps; partitions
// without one are absent.
func (s *offsetStore) committed(group string, tps []TopicPartition) map[TopicPartition]OffsetAndMetadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	out := make(map[TopicPartition]OffsetAndMetadata, len(tps))
	var id []byte
	for _, tp := range tps {
		id = appendOffsetID(id[:0], group, tp)
		if c, ok := s.mu.committed[string(id)]; ok {
			out[tp] = OffsetAndMetadata{Offset: c.offset, Metadata: c.metadata}
		}
	}
	return out
}

// groupOffsets returns a copy of every committed offset of the group. It
// goes through the offsets of all groups: it is for monitoring, not for
// the path of a consumer.
func (s *offsetStore) groupOffsets(group string) map[TopicPartition]committedOffset {
	prefix := string(appendKafkaString(nil, group))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	out := make(map[TopicPartition]committedOffset)
	for id, c := range s.mu.committed {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			_, tp := parseOffsetID(id)
			out[tp] = c
		}
	}
	return out
}

// groupNames returns the groups that have committed offsets or stored
// metadata.
func (s *offsetStore) groupNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	seen := make(map[string]bool)
	for id := range s.mu.committed {
		n := int(id[0])<<8 | int(id[1])
		seen[id[2:2+n]] = true
	}
	for group := range s.mu.groupMetadata {
		seen[group] = true
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	return names
}

// offsetsOfTopic returns the partitions of topic that each group has a
// committed offset for, a commit not durable yet, or a commit in an open
// transaction, sorted. The latter two count: such a commit is applied once
// durable or at its transaction's marker, and tombstones written after it
// must delete it then.
func (s *offsetStore) offsetsOfTopic(topic string) map[string][]TopicPartition {
	return s.offsetsWhere(func(_ string, tp TopicPartition) bool { return tp.Topic == topic })
}

// offsetsOfGroup returns the partitions group has an offset of, as
// offsetsOfTopic counts them, sorted.
func (s *offsetStore) offsetsOfGroup(group string) []TopicPartition {
	return s.offsetsWhere(func(g string, _ TopicPartition) bool { return g == group })[group]
}

// offsetsWhere returns, by group, the partitions that keep accepts and
// that the group has a committed offset for, a commit not durable yet, or
// a commit in an open transaction, sorted.
func (s *offsetStore) offsetsWhere(keep func(group string, tp TopicPartition) bool) map[string][]TopicPartition {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applyDurableLocked()
	out := make(map[string][]TopicPartition)
	for id := range s.mu.committed {
		if group, tp := parseOffsetID(id); keep(group, tp) {
			out[group] = append(out[group], tp)
		}
	}
	add := func(pcs []pendingCommit) {
		for _, pc := range pcs {
			for _, u := range pc.values {
				if !u.delete && keep(pc.group, u.tp) {
					out[pc.group] = append(out[pc.group], u.tp)
				}
			}
		}
	}
	add(s.mu.pending)
	for _, pcs := range s.mu.txnPending {
		add(pcs)
	}
	for group, tps := range out {
		slices.SortFunc(tps, compareTopicPartitions)
		out[group] = slices.Compact(tps)
	}
	return out
}

// deleteGroup writes, in one fsynced batch, the tombstones of the group's
// offsets — committed, not durable yet, or in an open transaction, as
// Kafka's coordinator deletes them all — and of its metadata, and forgets
// the metadata. It returns how many offsets it deleted.
func (s *offsetStore) deleteGroup(ctx context.Context, group string) (int, error) {
	s.gate.Lock() // no commit lands between the look and the tombstones; and for dropTxnCommits
	defer s.gate.Unlock()
	tps := s.offsetsOfGroup(group)
	updates := make([]offsetUpdate, len(tps))
	for i, tp := range tps {
		updates[i] = offsetUpdate{tp: tp, delete: true}
	}
	recs, err := s.records(group, updates)
	if err != nil {
		return 0, err
	}
	recs = append(recs, Record{Key: encodeGroupMetadataKey(nil, group)})
	if _, err := s.appendLocked(ctx, group, recs, updates, DurabilityFsync); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.groupMetadata, group)
	return len(updates), nil
}
