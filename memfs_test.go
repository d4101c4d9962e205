package eventlog

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memTree returns every file and directory of m: files map to their content,
// directories to "<dir>".
func memTree(t *testing.T, m *MemFS) map[string]string {
	t.Helper()
	tree := make(map[string]string)
	var walk func(dir string)
	walk = func(dir string) {
		names, err := m.ReadDir(dir)
		require.NoError(t, err)
		for _, name := range names {
			p := path.Join(dir, name)
			fi, err := m.Stat(p)
			require.NoError(t, err)
			if fi.IsDir() {
				tree[p] = "<dir>"
				walk(p)
				continue
			}
			data, err := m.ReadFile(p)
			require.NoError(t, err)
			tree[p] = string(data)
		}
	}
	walk("/")
	return tree
}

// memCreate creates name with content, without syncing anything.
func memCreate(t *testing.T, m *MemFS, name, content string) File {
	t.Helper()
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	require.NoError(t, err)
	_, err = f.Write([]byte(content))
	require.NoError(t, err)
	return f
}

func memOpen(t *testing.T, m *MemFS, name string) File {
	t.Helper()
	f, err := m.OpenFile(name, os.O_RDWR, 0)
	require.NoError(t, err)
	return f
}

func TestMemFSCrashDurability(t *testing.T) {
	tests := []struct {
		name string
		mode CrashMode
		do   func(t *testing.T, m *MemFS)
		want map[string]string
	}{{
		name: "unsynced data is dropped",
		do: func(t *testing.T, m *MemFS) {
			memCreate(t, m, "/d/f", "hello")
			require.NoError(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d": "<dir>", "/d/f": ""},
	}, {
		name: "synced data is kept",
		do: func(t *testing.T, m *MemFS) {
			f := memCreate(t, m, "/d/f", "hello")
			require.NoError(t, f.Sync())
			require.NoError(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d": "<dir>", "/d/f": "hello"},
	}, {
		name: "a synced file whose directory is not synced vanishes",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, memCreate(t, m, "/d/f", "hello").Sync())
		},
		want: map[string]string{"/d": "<dir>"},
	}, {
		name: "only the synced prefix of an append survives",
		do: func(t *testing.T, m *MemFS) {
			f := memCreate(t, m, "/d/f", "abc")
			require.NoError(t, f.Sync())
			require.NoError(t, m.SyncDir("/d"))
			_, err := f.Write([]byte("def"))
			require.NoError(t, err)
		},
		want: map[string]string{"/d": "<dir>", "/d/f": "abc"},
	}, {
		name: "unsynced overwrite and truncate revert",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/f", []byte("abcdef"), 0o644))
			f := memOpen(t, m, "/d/f")
			_, err := f.WriteAt([]byte("XY"), 0)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(3))
		},
		want: map[string]string{"/d": "<dir>", "/d/f": "abcdef"},
	}, {
		name: "unsynced O_TRUNC reverts",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/f", []byte("abcdef"), 0o644))
			memCreate(t, m, "/d/f", "new")
		},
		want: map[string]string{"/d": "<dir>", "/d/f": "abcdef"},
	}, {
		name: "rename reverts without SyncDir",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/old", []byte("old"), 0o644))
			require.NoError(t, m.WriteFile("/d/f.tmp", []byte("new"), 0o644))
			require.NoError(t, m.Rename("/d/f.tmp", "/d/old"))
		},
		want: map[string]string{"/d": "<dir>", "/d/old": "old", "/d/f.tmp": "new"},
	}, {
		name: "rename is durable after SyncDir",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/old", []byte("old"), 0o644))
			require.NoError(t, m.WriteFile("/d/f.tmp", []byte("new"), 0o644))
			require.NoError(t, m.Rename("/d/f.tmp", "/d/old"))
			require.NoError(t, m.SyncDir("/d"))
		},
		want: map[string]string{"/d": "<dir>", "/d/old": "new"},
	}, {
		name: "a removed file comes back without SyncDir",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/f", []byte("x"), 0o644))
			require.NoError(t, m.WriteFile("/d/g", []byte("y"), 0o644))
			require.NoError(t, m.Remove("/d/f"))
			require.NoError(t, m.Remove("/d/g"))
			require.NoError(t, m.SyncDir("/d"))
			require.NoError(t, m.RemoveAll("/d"))
		},
		want: map[string]string{"/d": "<dir>"},
	}, {
		name: "new directories need their parent synced",
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.MkdirAll("/d/a/b/c", 0o755))
			require.NoError(t, m.SyncDir("/d"))
			require.NoError(t, m.SyncDir("/d/a/b"))
		},
		want: map[string]string{"/d": "<dir>", "/d/a": "<dir>"},
	}, {
		name: "CrashKeepAll keeps unsynced data and entries",
		mode: CrashKeepAll,
		do: func(t *testing.T, m *MemFS) {
			require.NoError(t, m.WriteFile("/d/f", []byte("abcdef"), 0o644))
			f := memOpen(t, m, "/d/f")
			_, err := f.WriteAt([]byte("XY"), 0)
			require.NoError(t, err)
			require.NoError(t, m.MkdirAll("/d/sub", 0o755))
			memCreate(t, m, "/d/sub/g", "unsynced")
			require.NoError(t, m.Rename("/d/f", "/d/h"))
		},
		want: map[string]string{"/d": "<dir>", "/d/h": "XYcdef", "/d/sub": "<dir>", "/d/sub/g": "unsynced"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMemFS()
			require.NoError(t, m.MkdirAll("/d", 0o755))
			require.NoError(t, m.SyncDir("/"))
			tt.do(t, m)
			m.Crash(CrashOptions{Mode: tt.mode})
			assert.Equal(t, tt.want, memTree(t, m))
		})
	}
}

// crashOutcomes crashes a file with durable content "abc" and unsynced tail
// "defghij" once per seed and returns what each crash left.
func crashOutcomes(t *testing.T, mode CrashMode, seeds int) []string {
	var out []string
	for seed := range seeds {
		m := NewMemFS()
		require.NoError(t, m.WriteFile("f", []byte("abc"), 0o644))
		f := memOpen(t, m, "f")
		_, err := f.WriteAt([]byte("XY"), 0) // overwrites durable bytes: reverted
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("defghij"), 3)
		require.NoError(t, err)
		m.Crash(CrashOptions{Mode: mode, Rand: rand.New(rand.NewPCG(uint64(seed), 0))})
		data, err := m.ReadFile("f")
		require.NoError(t, err)
		out = append(out, string(data))
	}
	return out
}

func TestMemFSCrashTornWrite(t *testing.T) {
	seen := make(map[string]bool)
	for _, got := range crashOutcomes(t, CrashKeepPrefix, 64) {
		require.LessOrEqual(t, len(got), 10)
		require.Equal(t, "abcdefghij"[:len(got)], got, "a torn write keeps the durable bytes and a prefix of the tail")
		require.GreaterOrEqual(t, len(got), 3)
		seen[got] = true
	}
	assert.Greater(t, len(seen), 4, "torn lengths vary with the seed")
	assert.Equal(t, crashOutcomes(t, CrashKeepPrefix, 8), crashOutcomes(t, CrashKeepPrefix, 8), "same seed, same crash")
}

func TestMemFSCrashZeroFill(t *testing.T) {
	seen := make(map[string]bool)
	for _, got := range crashOutcomes(t, CrashZeroFill, 64) {
		require.Len(t, got, 10, "the size survives")
		kept := bytes.TrimRight([]byte(got), "\x00")
		require.GreaterOrEqual(t, len(kept), 3)
		require.Equal(t, "abcdefghij"[:len(kept)], string(kept), "a prefix of the tail then zeros")
		seen[got] = true
	}
	assert.True(t, seen["abc\x00\x00\x00\x00\x00\x00\x00"], "all-zero tail")
	assert.Greater(t, len(seen), 4)
}

func TestMemFSCrashRandom(t *testing.T) {
	seen := make(map[string]bool)
	for _, got := range crashOutcomes(t, CrashRandom, 200) {
		kept := string(bytes.TrimRight([]byte(got), "\x00"))
		ok := got == "XYcdefghij" || // kept all
			len(kept) >= 3 && len(got) <= 10 && "abcdefghij"[:len(kept)] == kept
		require.True(t, ok, "unexpected outcome %q", got)
		seen[got] = true
	}
	assert.True(t, seen["abc"])
	assert.True(t, seen["XYcdefghij"])
	assert.True(t, seen["abc\x00\x00\x00\x00\x00\x00\x00"])
}

func TestMemFSCrashCycle(t *testing.T) {
	// Durable entries can disagree after renames of directories: here /a's
	// durable entries still hold b, and /b's hold a.
	m := NewMemFS()
	require.NoError(t, m.MkdirAll("/a/b", 0o755))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, m.SyncDir("/a"))
	require.NoError(t, m.Rename("/a/b", "/b"))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, m.Rename("/a", "/b/a"))
	require.NoError(t, m.SyncDir("/b"))
	m.Crash(CrashOptions{})
	// Depth first in name order, b is first met inside a, and a inside b is
	// then dropped.
	assert.Equal(t, map[string]string{"/a": "<dir>", "/a/b": "<dir>"}, memTree(t, m))
}

func TestMemFSCrashKillsHandlesAndLocks(t *testing.T) {
	m := NewMemFS()
	f := memCreate(t, m, "f", "x")
	l, err := m.Lock("LOCK")
	require.NoError(t, err)
	_, err = m.Lock("LOCK")
	require.ErrorIs(t, err, ErrLocked)

	m.Crash(CrashOptions{Mode: CrashKeepAll})

	_, err = f.Write([]byte("y"))
	assert.ErrorIs(t, err, fs.ErrClosed)
	assert.ErrorIs(t, f.Sync(), fs.ErrClosed)
	_, err = f.ReadAt(make([]byte, 1), 0)
	assert.ErrorIs(t, err, fs.ErrClosed)
	assert.ErrorIs(t, f.Close(), fs.ErrClosed)

	l2, err := m.Lock("LOCK")
	require.NoError(t, err, "a crash releases locks")
	require.NoError(t, l.Close(), "closing a dead lock does nothing")
	_, err = m.Lock("LOCK")
	require.ErrorIs(t, err, ErrLocked, "the old lock's Close did not release the new one")
	require.NoError(t, l2.Close())
	require.NoError(t, l2.Close())
	l3, err := m.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l3.Close())
}

func TestMemFSFailedSync(t *testing.T) {
	m := NewMemFS()
	require.NoError(t, m.WriteFile("f", []byte("durable"), 0o644))
	f := memOpen(t, m, "f")
	_, err := f.WriteAt([]byte("lost"), 7)
	require.NoError(t, err)

	m.SetFault(FailAfter(1, OpSync, nil))
	require.NoError(t, f.Sync())
	_, err = f.WriteAt([]byte("!"), 11)
	require.NoError(t, err)
	err = f.Sync()
	require.ErrorIs(t, err, ErrInjected)
	var pe *fs.PathError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "sync", pe.Op)
	assert.Equal(t, "f", pe.Path)
	require.ErrorIs(t, f.Sync(), ErrInjected, "every later sync fails")

	m.SetFault(nil)
	m.Crash(CrashOptions{})
	data, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "durablelost", string(data), "the failed sync made nothing durable")
}

func TestMemFSFaultByName(t *testing.T) {
	m := NewMemFS()
	var ops []string
	var mu sync.Mutex
	m.SetFault(func(op Op, name string) error {
		mu.Lock()
		ops = append(ops, op.String()+" "+name)
		mu.Unlock()
		if op == OpRename && name == "a.tmp" {
			return syscall.EIO
		}
		return nil
	})
	require.NoError(t, memCreate(t, m, "a.tmp", "x").Close())
	err := m.Rename("a.tmp", "a")
	require.ErrorIs(t, err, syscall.EIO)
	var le *os.LinkError
	require.ErrorAs(t, err, &le)
	_, err = m.Stat("a.tmp")
	require.NoError(t, err, "a failed rename changes nothing")
	assert.Equal(t, []string{"open a.tmp", "write a.tmp", "close a.tmp", "rename a.tmp", "stat a.tmp"}, ops)
}

func TestMemFSShortWrite(t *testing.T) {
	m := NewMemFS()
	m.SetFault(func(op Op, name string) error {
		if op == OpWrite && name == "short" {
			return fmt.Errorf("wrapped: %w", &ShortWriteError{N: 3, Err: syscall.EIO})
		}
		return nil
	})
	f, err := m.OpenFile("short", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	n, err := f.Write([]byte("hello"))
	assert.Equal(t, 3, n)
	require.ErrorIs(t, err, syscall.EIO)
	n, err = f.Write([]byte("world"))
	assert.Equal(t, 3, n, "the position advanced by the bytes written")
	require.Error(t, err)
	data, err := m.ReadFile("short")
	require.NoError(t, err)
	assert.Equal(t, "helwor", string(data))

	m.SetFault(func(Op, string) error { return &ShortWriteError{N: 99} })
	n, err = f.WriteAt([]byte("ab"), 0)
	assert.Equal(t, 2, n, "N is clamped to the write's length")
	require.ErrorIs(t, err, io.ErrShortWrite)
}

func TestMemFSCapacity(t *testing.T) {
	m := NewMemFS()
	m.SetCapacity(10)
	f := memCreate(t, m, "a", "123456")
	n, err := f.Write([]byte("789abc"))
	assert.Equal(t, 4, n)
	require.ErrorIs(t, err, syscall.ENOSPC)
	data, err := m.ReadFile("a")
	require.NoError(t, err)
	assert.Equal(t, "123456789a", string(data))

	_, err = f.WriteAt([]byte("XY"), 0)
	require.NoError(t, err, "overwriting takes no space")
	g, err := m.OpenFile("b", os.O_RDWR|os.O_CREATE, 0o644)
	require.NoError(t, err)
	n, err = g.Write([]byte("z"))
	assert.Zero(t, n)
	require.ErrorIs(t, err, syscall.ENOSPC)

	require.NoError(t, f.Truncate(4))
	n, err = g.Write([]byte("zzzzzzzz"))
	assert.Equal(t, 6, n, "truncating freed space")
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.NoError(t, m.Remove("a"))
	_, err = g.Write([]byte("zzzz"))
	require.NoError(t, err, "removing freed space")

	m.SetCapacity(0)
	_, err = g.Write(make([]byte, 100))
	require.NoError(t, err)
}

func TestMemFSFaultMayCrash(t *testing.T) {
	m := NewMemFS()
	require.NoError(t, m.WriteFile("f", []byte("durable"), 0o644))
	f := memOpen(t, m, "f")
	_, err := f.Write([]byte("DURABLE!"))
	require.NoError(t, err)
	m.SetFault(func(op Op, _ string) error {
		if op == OpSync {
			m.Crash(CrashOptions{}) // power fails just before the sync
		}
		return nil
	})
	require.ErrorIs(t, f.Sync(), fs.ErrClosed)
	data, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "durable", string(data))
}

func TestMemFSMmapViewsNeverChange(t *testing.T) {
	m := NewMemFS()
	f := memCreate(t, m, "f", "hello world")
	mm := f.(mmapper)

	_, _, err := mm.Mmap(12)
	require.ErrorIs(t, err, errMmapBeyondEOF)
	empty, unmap, err := mm.Mmap(0)
	require.NoError(t, err)
	assert.Empty(t, empty)
	require.NoError(t, unmap())

	view, unmap, err := mm.Mmap(11)
	require.NoError(t, err)
	defer unmap()
	head, _, err := mm.Mmap(5)
	require.NoError(t, err)

	_, err = f.WriteAt([]byte("HELLO"), 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("!!")) // append past the views
	require.NoError(t, err)
	require.NoError(t, f.Truncate(2))
	_, err = f.WriteAt([]byte("xxxxxxxxxxxxxxxxxxxxx"), 2) // regrow over the views' bytes
	require.NoError(t, err)

	assert.Equal(t, "hello world", string(view))
	assert.Equal(t, "hello", string(head))
	assert.Equal(t, 11, cap(view), "appending to a view cannot reach the file")
	data, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "HExxxxxxxxxxxxxxxxxxxxx", string(data))

	view2, _, err := mm.Mmap(4)
	require.NoError(t, err)
	assert.Equal(t, "HExx", string(view2))
}

func TestMemFSDurableNeverAliased(t *testing.T) {
	// Sync shares the file's bytes with its durable copy; later writes must
	// not reach the durable copy.
	m := NewMemFS()
	f := memCreate(t, m, "f", "abcdef")
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, f.Sync())
	_, err := f.WriteAt([]byte("X"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1))
	_, err = f.WriteAt([]byte("Y"), 1)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(8))
	data, err := m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "XY\x00\x00\x00\x00\x00\x00", string(data), "regrown bytes are zeros")

	m.Crash(CrashOptions{})
	data, err = m.ReadFile("f")
	require.NoError(t, err)
	assert.Equal(t, "abcdef", string(data))
}

func TestMemFSPaths(t *testing.T) {
	m := NewMemFS()
	require.NoError(t, m.MkdirAll("a/b", 0o755))
	require.NoError(t, m.WriteFile("/a/b/../b/f", []byte("x"), 0o644))
	data, err := m.ReadFile("a/b/f")
	require.NoError(t, err)
	assert.Equal(t, "x", string(data))
	fi, err := m.Stat("/")
	require.NoError(t, err)
	assert.True(t, fi.IsDir())
	_, err = m.OpenFile("a/b", os.O_RDONLY, 0)
	assert.ErrorIs(t, err, syscall.EISDIR)
	_, err = m.OpenFile("a/b/f/g", os.O_RDWR|os.O_CREATE, 0o644)
	assert.ErrorIs(t, err, syscall.ENOTDIR)
	assert.ErrorIs(t, m.Rename("a", "a/b/c"), fs.ErrInvalid, "into its own subtree")
	assert.ErrorIs(t, m.Rename("a/b/f", "a"), syscall.EISDIR)
	assert.Error(t, m.RemoveAll("/"))
	_, err = m.Lock("a")
	assert.ErrorIs(t, err, syscall.EISDIR)
}

func TestMemFSConcurrent(t *testing.T) {
	m := NewMemFS()
	m.SetCapacity(1 << 30)
	const writers, rounds = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		// The writer hands views to a reader that checks them while the
		// writer overwrites their bytes in the file.
		views := make(chan []byte)
		wg.Go(func() {
			for v := range views {
				for i, b := range v {
					assert.Equal(t, byte(i), b)
				}
			}
		})
		wg.Go(func() {
			defer close(views)
			name := fmt.Sprintf("f%d", w)
			f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if !assert.NoError(t, err) {
				return
			}
			defer f.Close()
			mm := f.(mmapper)
			for i := range rounds {
				if _, err := f.Write([]byte{byte(i)}); !assert.NoError(t, err) {
					return
				}
				if i%10 == 0 {
					assert.NoError(t, f.Sync())
					view, _, err := mm.Mmap(i + 1)
					assert.NoError(t, err)
					views <- view
					_, err = f.WriteAt([]byte{0xff}, 0)
					assert.NoError(t, err)
					_, err = f.WriteAt([]byte{0}, 0)
					assert.NoError(t, err)
				}
			}
		})
	}
	wg.Go(func() {
		for range rounds {
			_, err := m.ReadDir("/")
			assert.NoError(t, err)
			_ = m.SyncDir("/")
			_, _ = m.Stat("f0")
			m.SetFault(func(Op, string) error { return nil })
		}
	})
	wg.Wait()
	for w := range writers {
		data, err := m.ReadFile(fmt.Sprintf("f%d", w))
		require.NoError(t, err)
		require.Len(t, data, rounds)
	}
}

// FuzzMemFSCrash runs random operations on a few files of one directory
// against a simple model, crashes, and checks that exactly the durable state
// survives (or, for inputs of odd length, everything under CrashKeepAll).
func FuzzMemFSCrash(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0, 0, 0, 3, 1, 1, 2, 5, 0, 2, 4, 0, 1})
	f.Fuzz(checkMemFSCrash)
}

func checkMemFSCrash(t *testing.T, ops []byte) {
	type inode struct{ cur, dur []byte }
	cur := make(map[string]*inode) // the model's current and durable entries
	dur := make(map[string]*inode)
	m := NewMemFS()
	names := []string{"a", "b", "c"}
	handles := make(map[*inode]File) // opened when the model creates the file
	for i := 0; i+1 < len(ops); i += 2 {
		name, arg := names[int(ops[i+1])%3], int(ops[i+1]/3)
		switch ops[i] % 6 {
		case 0: // create or write
			n, ok := cur[name]
			if !ok {
				n = &inode{}
				cur[name] = n
				f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
				require.NoError(t, err)
				t.Cleanup(func() { f.Close() })
				handles[n] = f
			}
			off := arg % (len(n.cur) + 1)
			p := bytes.Repeat([]byte{byte(i)}, arg%7+1)
			_, err := handles[n].WriteAt(p, int64(off))
			require.NoError(t, err)
			n.cur = append(n.cur[:off:off], append(p, n.cur[min(off+len(p), len(n.cur)):]...)...)
		case 1: // sync
			if n, ok := cur[name]; ok {
				require.NoError(t, handles[n].Sync())
				n.dur = bytes.Clone(n.cur)
			}
		case 2: // truncate
			if n, ok := cur[name]; ok {
				size := arg % (len(n.cur) + 3)
				require.NoError(t, handles[n].Truncate(int64(size)))
				n.cur = append(n.cur, make([]byte, max(size-len(n.cur), 0))...)[:size]
			}
		case 3: // rename
			if n, ok := cur[name]; ok {
				to := names[arg%3]
				require.NoError(t, m.Rename(name, to))
				delete(cur, name)
				cur[to] = n
			}
		case 4: // remove
			if _, ok := cur[name]; ok {
				require.NoError(t, m.Remove(name))
				delete(cur, name)
			}
		case 5: // sync dir
			require.NoError(t, m.SyncDir("/"))
			clear(dur)
			for k, v := range cur {
				dur[k] = v
			}
		}
	}
	want := make(map[string]string)
	for k, v := range cur {
		want["/"+k] = string(v.cur)
	}
	require.Equal(t, want, memTree(t, m), "before the crash")
	if len(ops)%2 == 1 { // a process crash: everything stays
		m.Crash(CrashOptions{Mode: CrashKeepAll})
		require.Equal(t, want, memTree(t, m), "after a CrashKeepAll")
		return
	}
	m.Crash(CrashOptions{})
	want = make(map[string]string)
	for k, v := range dur {
		want["/"+k] = string(v.dur)
	}
	require.Equal(t, want, memTree(t, m), "after the crash")
}
