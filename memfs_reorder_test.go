package eventlog

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemFSCrashReorderPages: CrashReorder keeps the durable bytes, cuts
// the file at a page boundary or not at all, and keeps, zeroes or garbles
// each unsynced page on its own — a later page can survive an earlier one.
func TestMemFSCrashReorderPages(t *testing.T) {
	const durable, size = 1000, 6*CrashPageSize + 100
	content := make([]byte, size)
	for i := range content {
		content[i] = byte('a' + i%26)
	}
	pageStart := func(i int) int { return max(i*CrashPageSize, durable) }
	var laterKept, lengths, garbage int
	seenLen := map[int]bool{}
	for seed := range uint64(200) {
		m := NewMemFS()
		f, err := m.OpenFile("f", os.O_CREATE|os.O_RDWR, 0o644)
		require.NoError(t, err)
		_, err = f.WriteAt(content[:durable], 0)
		require.NoError(t, err)
		require.NoError(t, f.Sync())
		require.NoError(t, m.SyncDir("/"))
		_, err = f.WriteAt(content[durable:], durable)
		require.NoError(t, err)
		m.Crash(CrashOptions{Mode: CrashReorder, Rand: rand.New(rand.NewPCG(seed, 1))})

		got, err := m.ReadFile("f")
		require.NoError(t, err)
		require.Equal(t, content[:durable], got[:durable], "seed %d: durable bytes win", seed)
		require.True(t, len(got) == size || len(got) == durable || len(got)%CrashPageSize == 0, "seed %d: cut at a page boundary, not at %d", seed, len(got))
		seenLen[len(got)] = true
		lost := false
		for i := 0; pageStart(i) < len(got); i++ {
			start, end := pageStart(i), min((i+1)*CrashPageSize, len(got))
			page := got[start:end]
			switch {
			case bytes.Equal(page, content[start:end]):
				if lost {
					laterKept++
				}
			case bytes.Equal(page, make([]byte, len(page))):
				lost = true
			default:
				lost = true
				garbage++
			}
		}
	}
	lengths = len(seenLen)
	assert.Positive(t, laterKept, "a page survives after one that did not")
	assert.Positive(t, garbage, "some pages hold garbage")
	assert.Greater(t, lengths, 3, "the length varies")
	assert.Equal(t, crashOutcomes(t, CrashReorder, 8), crashOutcomes(t, CrashReorder, 8), "same seed, same crash")
}

// TestMemFSCrashReorderDirectory: each unsynced change to a directory is
// kept or lost on its own, independently of the files' data, and a rename
// within a directory is kept or lost whole.
func TestMemFSCrashReorderDirectory(t *testing.T) {
	outcomes := map[string]int{}
	for seed := range uint64(200) {
		m := NewMemFS()
		require.NoError(t, m.MkdirAll("d", 0o755))
		require.NoError(t, m.SyncDir("/"))
		require.NoError(t, m.WriteFile("d/old", []byte("old"), 0o644)) // durable
		for _, name := range []string{"a", "b", "c"} {
			f, err := m.OpenFile("d/"+name, os.O_CREATE|os.O_WRONLY, 0o644)
			require.NoError(t, err)
			_, err = f.Write([]byte(name))
			require.NoError(t, err)
			require.NoError(t, f.Sync()) // the data is durable, the name is not
		}
		require.NoError(t, m.Rename("d/a", "d/renamed"))
		require.NoError(t, m.Remove("d/old"))
		m.Crash(CrashOptions{Mode: CrashReorder, Rand: rand.New(rand.NewPCG(seed, 2))})

		names, err := m.ReadDir("d")
		require.NoError(t, err)
		key := fmt.Sprint(names)
		outcomes[key]++
		has := map[string]bool{}
		for _, n := range names {
			has[n] = true
		}
		assert.False(t, has["a"] && has["renamed"], "seed %d: %v: the rename is atomic", seed, names)
		if has["renamed"] {
			data, err := m.ReadFile("d/renamed")
			require.NoError(t, err)
			assert.Equal(t, "a", string(data))
		}
		// What survived is durable: a second crash keeps it all.
		m.Crash(CrashOptions{Mode: CrashReorder, Rand: rand.New(rand.NewPCG(seed, 3))})
		again, err := m.ReadDir("d")
		require.NoError(t, err)
		assert.Equal(t, names, again, "seed %d", seed)
	}
	assert.Greater(t, len(outcomes), 8, "changes survive in many combinations: %v", outcomes)
	assert.Contains(t, outcomes, "[b c old]", "a later creation kept, an earlier rename lost")
	assert.Contains(t, outcomes, "[renamed]", "a removal kept, creations lost")
}

// TestMemFSCrashRemoveAllPartial: RemoveAll removes a tree as
// os.RemoveAll does, entry by entry, depth first, then the directory, and
// each removal is a change to its own directory. A crash before those
// directories are synced may thus bring the tree back with only some of
// its entries: never one that was not there, and never anything under a
// name whose removal was synced.
func TestMemFSCrashRemoveAllPartial(t *testing.T) {
	setup := func(t *testing.T) *MemFS {
		m := NewMemFS()
		require.NoError(t, m.MkdirAll("d/t/s", 0o755))
		require.NoError(t, m.SyncDir("/"))
		require.NoError(t, m.SyncDir("d"))
		require.NoError(t, m.WriteFile("d/t/a", []byte("a"), 0o644))
		require.NoError(t, m.WriteFile("d/t/b", []byte("b"), 0o644))
		require.NoError(t, m.WriteFile("d/t/s/c", []byte("c"), 0o644))
		require.NoError(t, m.RemoveAll("d/t"))
		_, err := m.Stat("d/t")
		require.ErrorIs(t, err, fs.ErrNotExist)
		return m
	}
	whole := map[string]string{"/d": "<dir>", "/d/t": "<dir>", "/d/t/a": "a", "/d/t/b": "b", "/d/t/s": "<dir>", "/d/t/s/c": "c"}

	t.Run("CrashDropUnsynced brings the whole tree back", func(t *testing.T) {
		m := setup(t)
		m.Crash(CrashOptions{})
		assert.Equal(t, whole, memTree(t, m))
	})
	t.Run("a synced parent keeps it gone", func(t *testing.T) {
		m := setup(t)
		require.NoError(t, m.SyncDir("d"))
		m.Crash(CrashOptions{Mode: CrashReorder})
		assert.Equal(t, map[string]string{"/d": "<dir>"}, memTree(t, m))
	})
	for _, mode := range []CrashMode{CrashReorder, CrashRandom} {
		t.Run(mode.String(), func(t *testing.T) {
			partial := 0
			for seed := range uint64(64) {
				m := setup(t)
				m.Crash(CrashOptions{Mode: mode, Rand: rand.New(rand.NewPCG(seed, 7))})
				tree := memTree(t, m)
				for name, content := range tree {
					assert.Equal(t, whole[name], content, "seed %d: %s", seed, name)
				}
				if _, ok := tree["/d/t"]; ok && len(tree) < len(whole) {
					partial++
				}
			}
			assert.Positive(t, partial, "the tree comes back with some of its entries gone")
		})
	}
}
