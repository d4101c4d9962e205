package eventlog

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// offsetMap is the cleaner's key→offset map: for each key of the dirty
// section it holds the offset of the key's newest record there. It lives
// within a fixed memory budget (Options.CleanerBufferBytes); when the
// budget is spent, put refuses new keys and the cleaning covers only what
// the map reached, leaving the rest to the next pass.
//
// Keys are hashed with xxhash to pick a slot, but unlike Kafka's map, which
// keeps only a 16-byte digest, every slot also refers to the key's bytes,
// copied into an arena counted in the budget. Two keys whose hashes collide
// are therefore told apart, and a record is never dropped because another
// key shares its hash.
//
// The table is open addressing with linear probing, at most 3/4 full. A
// slot is 16 bytes; the arena holds each key after a uvarint of its length,
// in chunks that never move once allocated.
type offsetMap struct {
	slots      []mapSlot
	maxEntries int // entries allowed before the table must grow
	entries    int
	chunks     [][]byte // the arena; a key never spans two chunks
	used       int      // chunks in use; those after are kept from an earlier use
	arenaBytes int      // capacity of the chunks
	budget     int      // bytes slots and arena may take together
	hash       func([]byte) uint64
	peak       int // largest bytes() seen
}

// mapSlot is one entry of the table. ref locates the key in the arena:
// chunk index << mapChunkShift | position in the chunk; 0 marks an empty
// slot (chunk 0 starts with a byte that is never a key's).
type mapSlot struct {
	offset int64
	ref    uint32
	tag    uint32 // low half of the key's hash, compared before the key bytes
}

const (
	mapSlotSize     = 16
	mapChunkShift   = 20
	mapMaxChunkSize = 1 << mapChunkShift // largest chunk that holds many keys
	mapMaxChunks    = 1 << (32 - mapChunkShift)
	mapMinChunkSize = 4 << 10
	mapMinSlots     = 64
)

// defaultKeyHash is the hash the cleaner uses; tests may force collisions
// through cleaner.hash.
func defaultKeyHash(key []byte) uint64 { return xxhash.Sum64(key) }

// newOffsetMap returns a map that may use budget bytes: old, emptied, if it
// is large enough, else a new one. expectKeys and avgKeyLen size the table:
// a map for a few keys stays small, and one whose keys are long leaves more
// of the budget to the arena. The table grows, if the budget allows, when
// the estimate was low. Reusing one map across passes and partitions keeps
// the cleaner's memory within the budget: garbage of an earlier map does
// not add to it.
func newOffsetMap(old *offsetMap, budget, expectKeys, avgKeyLen int, hash func([]byte) uint64) *offsetMap {
	perKey := mapSlotSize*4/3 + avgKeyLen + 2
	keys := max(min(expectKeys, budget/perKey), 1)
	n := max(keys*4/3+1, mapMinSlots)
	n = min(n, max(budget*3/4/mapSlotSize, mapMinSlots)) // leave the arena a quarter at least
	if old != nil && old.budget == budget && len(old.slots) >= n {
		old.reset(hash)
		return old
	}
	m := &offsetMap{budget: budget, hash: hash}
	m.setSlots(make([]mapSlot, n))
	return m
}

// reset empties the map, keeping its memory.
func (m *offsetMap) reset(hash func([]byte) uint64) {
	clear(m.slots)
	m.entries, m.used, m.hash, m.peak = 0, 0, hash, 0
	m.notePeak()
	// A chunk of one large key may not take others: positions past
	// mapMaxChunkSize do not fit a reference.
	for i, c := range m.chunks {
		if cap(c) > mapMaxChunkSize {
			for _, d := range m.chunks[i:] {
				m.arenaBytes -= cap(d)
			}
			m.chunks = m.chunks[:i]
			break
		}
	}
}

func (m *offsetMap) setSlots(s []mapSlot) {
	m.slots = s
	m.maxEntries = len(s) * 3 / 4
	m.notePeak()
}

// bytes is the memory the map holds: table and arena.
func (m *offsetMap) bytes() int { return len(m.slots)*mapSlotSize + m.arenaBytes }

func (m *offsetMap) notePeak() { m.peak = max(m.peak, m.bytes()) }

// slotFor maps a hash to a slot index, using its high bits (the tag is the
// low ones).
func (m *offsetMap) slotFor(h uint64) int {
	hi, _ := bits.Mul64(h, uint64(len(m.slots)))
	return int(hi)
}

// key returns the key bytes a slot refers to.
func (m *offsetMap) key(ref uint32) []byte {
	c := m.chunks[ref>>mapChunkShift]
	p := int(ref & (mapMaxChunkSize - 1))
	n, w := binary.Uvarint(c[p:])
	return c[p+w : p+w+int(n)]
}

// find returns the slot holding key, or the empty slot where it would go.
func (m *offsetMap) find(key []byte, h uint64) *mapSlot {
	tag := uint32(h)
	i := m.slotFor(h)
	for {
		s := &m.slots[i]
		if s.ref == 0 || s.tag == tag && bytes.Equal(m.key(s.ref), key) {
			return s
		}
		if i++; i == len(m.slots) {
			i = 0
		}
	}
}

// get returns the offset stored for key; h is its hash.
func (m *offsetMap) get(key []byte, h uint64) (int64, bool) {
	s := m.find(key, h)
	return s.offset, s.ref != 0
}

// put records offset as key's newest; h is its hash. It reports false,
// changing nothing, when a new key does not fit the budget. The first key
// always fits, however large, so that every pass makes progress.
func (m *offsetMap) put(key []byte, h uint64, offset int64) bool {
	s := m.find(key, h)
	if s.ref != 0 {
		s.offset = offset
		return true
	}
	if m.entries >= m.maxEntries {
		if !m.grow() {
			return false
		}
		s = m.find(key, h)
	}
	ref, ok := m.store(key)
	if !ok {
		return false
	}
	*s = mapSlot{offset: offset, ref: ref, tag: uint32(h)}
	m.entries++
	return true
}

// touch reads the first slot that a lookup of each hash probes, then the
// bytes of the key whose tag matches, and returns nothing of use. Keys hit
// the table at random, so each lookup misses the cache twice; touching a
// whole batch's slots, then their keys, lets those misses overlap rather than
// follow one another, and the lookups that follow find the cache warm.
func (m *offsetMap) touch(hashes []uint64) (sink uint32) {
	for _, h := range hashes {
		sink += m.slots[m.slotFor(h)].ref
	}
	for _, h := range hashes {
		for i := m.slotFor(h); m.slots[i].ref != 0; {
			if s := &m.slots[i]; s.tag == uint32(h) {
				sink += uint32(m.chunks[s.ref>>mapChunkShift][s.ref&(mapMaxChunkSize-1)])
				break
			}
			if i++; i == len(m.slots) {
				i = 0
			}
		}
	}
	return sink
}

// grow doubles the table if the old table, the new one and the arena fit the
// budget together while it rehashes.
func (m *offsetMap) grow() bool {
	n := len(m.slots) * 2
	if (len(m.slots)+n)*mapSlotSize+m.arenaBytes > m.budget {
		return false
	}
	old := m.slots
	m.setSlots(make([]mapSlot, n))
	for i := range old {
		if s := old[i]; s.ref != 0 {
			*m.find(m.key(s.ref), m.hash(m.key(s.ref))) = s
		}
	}
	return true
}

// store copies key into the arena and returns its reference.
func (m *offsetMap) store(key []byte) (uint32, bool) {
	need := binary.MaxVarintLen64 + len(key)
	if m.used > 0 {
		if c := m.chunks[m.used-1]; cap(c)-len(c) >= need {
			return m.storeIn(m.used-1, key), true
		}
	}
	if m.used < len(m.chunks) && cap(m.chunks[m.used]) > need {
		m.used++ // a chunk of an earlier use of the map
		m.startChunk(m.used - 1)
		return m.storeIn(m.used-1, key), true
	}
	if m.used >= mapMaxChunks {
		return 0, false
	}
	for _, c := range m.chunks[m.used:] { // too small for this key: let them go
		m.arenaBytes -= cap(c)
	}
	m.chunks = m.chunks[:m.used]
	size := mapMinChunkSize
	if m.used > 0 {
		size = min(2*cap(m.chunks[m.used-1]), mapMaxChunkSize)
	}
	size = max(size, need+1)
	room := m.budget - m.bytes()
	if size > room {
		// A smaller last chunk still takes a key that fits in it; a key
		// larger than what is left waits for the next pass, unless the
		// map is empty.
		size = max(room, need+1)
		if size > room && m.entries > 0 {
			return 0, false
		}
	}
	if size > mapMaxChunkSize && size != need+1 {
		size = mapMaxChunkSize
	}
	m.chunks = append(m.chunks, make([]byte, 0, size))
	m.used++
	m.arenaBytes += size
	m.notePeak()
	m.startChunk(m.used - 1)
	return m.storeIn(m.used-1, key), true
}

// startChunk empties a chunk for use. Position 0 of chunk 0 is never a
// key's, so that ref 0 can mean an empty slot.
func (m *offsetMap) startChunk(i int) {
	m.chunks[i] = m.chunks[i][:0]
	if i == 0 {
		m.chunks[i] = append(m.chunks[i], 0)
	}
}

func (m *offsetMap) storeIn(chunk int, key []byte) uint32 {
	c := m.chunks[chunk]
	ref := uint32(chunk)<<mapChunkShift | uint32(len(c))
	c = binary.AppendUvarint(c, uint64(len(key)))
	m.chunks[chunk] = append(c, key...)
	return ref
}
