package eventlog

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// CrashMode says what a MemFS Crash does with each file's unsynced bytes:
// those written, overwritten or truncated since the file's last Sync.
//
// In every mode but CrashKeepAll, durable bytes win: a file's content after
// the crash starts with its content as of its last Sync, whatever was written
// over it or cut from it since. Only the unsynced tail (the current content
// beyond the durable length, if the file has grown) may survive, and only as
// the mode says.
type CrashMode int

// The crash modes. For a file with durable content D and current content C,
// let T be the tail of C beyond len(D) (empty if C is not longer than D).
const (
	// CrashDropUnsynced leaves D: every unsynced write is lost.
	CrashDropUnsynced CrashMode = iota
	// CrashKeepPrefix leaves D followed by a prefix of T of random length,
	// from none to all of it: a torn write.
	CrashKeepPrefix
	// CrashZeroFill leaves D followed by a prefix of T of random length and
	// then zeros up to the length of C: the file's size reached the disk but
	// some of its data did not.
	CrashZeroFill
	// CrashKeepAll leaves C, and keeps unsynced directory changes too: every
	// write survives, as after a crash of the process rather than of the
	// machine. Only handles and locks are lost. What was unsynced stays so,
	// as dirty pages outlive a process but are no more durable for it: a
	// later Crash in another mode loses it, as a power loss after the
	// process died would, unless it was synced since.
	CrashKeepAll
	// CrashRandom picks one of the four modes above for each file, and for
	// each directory whether its unsynced changes all survive or are all
	// lost.
	CrashRandom
	// CrashReorder persists unsynced data out of order, as a disk's
	// write-back does: T is cut into pages of CrashPageSize bytes (aligned
	// to the file's offsets; the first may be partial), and each page
	// independently survives, is lost (reads as zeros), or holds garbage.
	// The file keeps the length of C, or, as often, is cut at a page
	// boundary between len(D) and len(C): its last pages never reached the
	// disk. So a later page can survive where an earlier one did not, for
	// data, index and metadata files alike. Each directory likewise keeps
	// an independent random subset of its unsynced changes — every
	// creation, removal or rename into or out of it is kept or lost on its
	// own (a rename within one directory is one change, kept or lost
	// whole) — and independently of the data of the files it names: a
	// name can survive without its file's unsynced bytes, and bytes
	// without their name.
	CrashReorder
)

// CrashPageSize is the unit in which CrashReorder keeps or loses unsynced
// file data.
const CrashPageSize = 4096

// String returns the mode's name, such as "CrashKeepPrefix".
func (c CrashMode) String() string {
	switch c {
	case CrashDropUnsynced:
		return "CrashDropUnsynced"
	case CrashKeepPrefix:
		return "CrashKeepPrefix"
	case CrashZeroFill:
		return "CrashZeroFill"
	case CrashKeepAll:
		return "CrashKeepAll"
	case CrashRandom:
		return "CrashRandom"
	case CrashReorder:
		return "CrashReorder"
	}
	return fmt.Sprintf("CrashMode(%d)", int(c))
}

// CrashOptions configures MemFS.Crash. The zero value drops everything
// unsynced.
type CrashOptions struct {
	// Mode says what happens to unsynced file content and, for CrashKeepAll
	// and CrashRandom, to unsynced directory changes; in the other modes a
	// directory reverts to its entries as of its last SyncDir.
	Mode CrashMode
	// Rand drives the random choices of CrashKeepPrefix, CrashZeroFill,
	// CrashRandom and CrashReorder. If nil, the MemFS uses its own generator, seeded the same
	// way by every NewMemFS, so a test that does the same things sees the
	// same crashes. Files and directories are visited in a fixed order, so
	// the same Rand state gives the same outcome.
	Rand *rand.Rand
}

// Crash simulates a power loss followed by a reboot, or with CrashKeepAll
// the crash of the process alone. Afterwards the MemFS holds what a real
// disk would (see CrashOptions and the MemFS durability model), every file handle and lock from before is dead (their calls fail
// with an error wrapping fs.ErrClosed, and closing a lock does nothing), and
// the MemFS is otherwise ready for use. The fault hook and capacity stay as
// they were. Crash panics on an unknown mode.
//
// CrashKeepAll changes no content, entry or durable state: what was not
// durable before it is not after it. In the other modes, a directory
// reverts to its durable entries, but for the unsynced changes the mode
// keeps, which become durable: files and directories created
// or renamed into it since its last SyncDir vanish, and names removed or
// renamed away come back. What is not reachable from the root through the
// surviving entries is gone. Should reverted entries make a directory appear
// twice or inside itself (renames of directories between unsynced parents
// can), only its first appearance in name order, depth first, is kept.
func (m *MemFS) Crash(opts CrashOptions) {
	if opts.Mode < CrashDropUnsynced || opts.Mode > CrashReorder {
		panic(fmt.Sprintf("eventlog: MemFS.Crash: unknown mode %v", opts.Mode))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.gen++
	clear(m.mu.locks)
	if opts.Mode == CrashKeepAll {
		return // a process crash: the page cache, durable or not, stays
	}
	c := crasher{mode: opts.Mode, rand: opts.Rand, seen: make(map[*memNode]bool)}
	if c.rand == nil {
		c.rand = m.mu.rand
	}
	c.seen[m.mu.root] = true
	c.dir(m.mu.root)
}

// crasher rebuilds a MemFS tree as a crash leaves it.
type crasher struct {
	mode CrashMode
	rand *rand.Rand
	seen map[*memNode]bool
}

func (c *crasher) dir(d *memNode) {
	entries := d.durableEntries
	switch {
	case c.mode == CrashRandom && c.rand.IntN(2) == 0:
		entries = d.entries
	case c.mode == CrashReorder:
		entries = maps.Clone(d.durableEntries)
		for _, change := range d.pending {
			if c.rand.IntN(2) == 0 {
				continue // lost
			}
			for _, e := range change {
				if e.node == nil {
					delete(entries, e.name)
				} else {
					entries[e.name] = e.node
				}
			}
		}
	}
	kept := make(map[string]*memNode, len(entries))
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		n := entries[name]
		switch {
		case !c.seen[n]:
			c.seen[n] = true
			if n.isDir() {
				c.dir(n)
			} else {
				c.file(n)
			}
		case n.isDir():
			continue // a directory has one place in the tree
		}
		kept[name] = n // a file may keep two names: they are hard links
	}
	d.entries, d.durableEntries, d.pending = kept, maps.Clone(kept), nil
}

func (c *crasher) file(n *memNode) {
	mode := c.mode
	if mode == CrashRandom {
		mode = CrashMode(c.rand.IntN(int(CrashRandom)))
	}
	durable, current := n.durable, n.onDiskLocked()
	if mode == CrashKeepAll && len(n.lost) > 0 {
		// A power loss that kept every write of the file but those a
		// failed Sync lost, which no writeback wrote.
		n.data, n.frozen = current, 0
	}
	switch mode {
	case CrashKeepAll:
		// current stays; its frozen bytes stay frozen.
	case CrashDropUnsynced:
		n.data, n.frozen = durable, len(durable)
	case CrashKeepPrefix, CrashZeroFill:
		var tail []byte
		if len(current) > len(durable) {
			tail = current[len(durable):]
		}
		k := c.rand.IntN(len(tail) + 1)
		size := len(durable) + k
		if mode == CrashZeroFill {
			size = len(durable) + len(tail)
		}
		data := make([]byte, size)
		copy(data, durable)
		copy(data[len(durable):], tail[:k])
		n.data, n.frozen = data, 0
	case CrashReorder:
		if len(current) > len(durable) {
			n.data, n.frozen = c.reorderPages(durable, current), 0
		} else {
			n.data, n.frozen = durable, len(durable)
		}
	}
	n.durable = n.freezeLocked(len(n.data))
	n.lost = nil
}

// reorderPages returns what CrashReorder leaves of a file whose durable
// content is durable and whose current, longer, content is current.
func (c *crasher) reorderPages(durable, current []byte) []byte {
	size := len(current)
	if c.rand.IntN(2) == 0 {
		// Cut at a page boundary after the durable bytes, or at their end.
		first := len(durable)/CrashPageSize + 1
		last := size / CrashPageSize
		size = len(durable)
		if last >= first {
			if k := c.rand.IntN(last - first + 2); k > 0 {
				size = (first + k - 1) * CrashPageSize
			}
		}
	}
	data := make([]byte, size)
	copy(data, durable)
	for start := len(durable); start < size; {
		end := min((start/CrashPageSize+1)*CrashPageSize, size)
		switch c.rand.IntN(4) {
		case 0, 1:
			copy(data[start:end], current[start:end])
		case 2:
			// Lost: the size reached the disk, the page did not.
		case 3:
			for i := start; i < end; i++ {
				data[i] = byte(c.rand.Uint32())
			}
		}
		start = end
	}
	return data
}
