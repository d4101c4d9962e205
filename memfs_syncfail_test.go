package eventlog

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A failed Sync, as Linux's fsync after a writeback error, marks the bytes
// it failed to write clean: a later Sync that succeeds does not write them,
// so a crash loses them, while reads go on returning them until then.

// failOneSync makes f's next Sync fail and checks that it does.
func failOneSync(t *testing.T, m *MemFS, f File) {
	t.Helper()
	m.SetFault(FailAfter(0, OpSync, nil))
	require.ErrorIs(t, f.Sync(), ErrInjected)
	m.SetFault(nil)
}

// memDurable returns a MemFS whose file "f" durably holds content, and f
// opened on it.
func memDurable(t *testing.T, content string) (*MemFS, File) {
	t.Helper()
	m := NewMemFS()
	require.NoError(t, m.WriteFile("f", []byte(content), 0o644))
	return m, memOpen(t, m, "f")
}

func memWriteAt(t *testing.T, f File, data string, off int64) {
	t.Helper()
	_, err := f.WriteAt([]byte(data), off)
	require.NoError(t, err)
}

// failedWrite is memDurable with data written at off by a Sync that
// failed.
func failedWrite(t *testing.T, durable, data string, off int64) (*MemFS, File) {
	t.Helper()
	m, f := memDurable(t, durable)
	memWriteAt(t, f, data, off)
	failOneSync(t, m, f)
	return m, f
}

// syncCrashRead syncs f, cuts the power and returns what "f" then holds.
func syncCrashRead(t *testing.T, m *MemFS, f File) string {
	t.Helper()
	require.NoError(t, f.Sync())
	m.Crash(CrashOptions{})
	return memRead(t, m, "f")
}

func memRead(t *testing.T, m *MemFS, name string) string {
	t.Helper()
	data, err := m.ReadFile(name)
	require.NoError(t, err)
	return string(data)
}

func TestMemFSFailedSyncLosesItsBytes(t *testing.T) {
	// A power loss loses them in every mode, CrashRandom's choice of
	// keeping every write of a file included: no writeback writes them.
	for _, mode := range []CrashMode{CrashDropUnsynced, CrashKeepPrefix, CrashZeroFill, CrashReorder, CrashRandom} {
		for seed := range uint64(32) {
			t.Run(fmt.Sprintf("%v/%d", mode, seed), func(t *testing.T) {
				checkFailedSyncLosesItsBytes(t, CrashOptions{Mode: mode, Rand: rand.New(rand.NewPCG(seed, 0))})
			})
		}
	}
}

func checkFailedSyncLosesItsBytes(t *testing.T, opts CrashOptions) {
	m, f := memDurable(t, "durable.")
	memWriteAt(t, f, "D", 0)        // an overwrite
	memWriteAt(t, f, "appended", 8) // and an append
	failOneSync(t, m, f)
	assert.Equal(t, "Durable.appended", memRead(t, m, "f"), "reads still see the bytes")

	memWriteAt(t, f, "!", 16) // written after the failure
	require.NoError(t, f.Sync(), "the error is reported once")
	m.Crash(opts)
	assert.Equal(t, "durable.\x00\x00\x00\x00\x00\x00\x00\x00!", memRead(t, m, "f"),
		"the later Sync wrote only what was written after the failure")
}

func TestMemFSFailedSyncRewritten(t *testing.T) {
	// Bytes written again after the failure are dirty again: the next Sync
	// writes them.
	m, f := failedWrite(t, "0123", "abcdef", 2)
	memWriteAt(t, f, "CD", 2)
	memWriteAt(t, f, "F", 7)
	assert.Equal(t, "01CD\x00\x00\x00F", syncCrashRead(t, m, f))
}

func TestMemFSFailedSyncThenTruncated(t *testing.T) {
	// A file cut below the bytes a failed Sync lost and grown again holds
	// zeros there, not the lost bytes; cut within them, it keeps the lost
	// bytes below the cut lost.
	m, f := failedWrite(t, "ab", "cdef", 2)
	require.NoError(t, f.Truncate(4))
	memWriteAt(t, f, "G", 5)
	assert.Equal(t, "abcd\x00G", memRead(t, m, "f"))
	assert.Equal(t, "ab\x00\x00\x00G", syncCrashRead(t, m, f))
}

func TestMemFSFailedSyncProcessCrash(t *testing.T) {
	// The page cache outlives the process: CrashKeepAll keeps every byte,
	// and a Sync after it still does not write those a failed Sync lost.
	m, f := failedWrite(t, "ab", "cd", 2)
	m.Crash(CrashOptions{Mode: CrashKeepAll})
	assert.Equal(t, "abcd", memRead(t, m, "f"))
	f = memOpen(t, m, "f")
	assert.Equal(t, "ab\x00\x00", syncCrashRead(t, m, f))
}

func TestMemFSFailedSyncWriteFile(t *testing.T) {
	// WriteFile makes its content durable, whatever a Sync failed to
	// write before.
	m, _ := failedWrite(t, "ab", "cd", 2)
	require.NoError(t, m.WriteFile("f", []byte("wxyz"), 0o644))
	m.Crash(CrashOptions{})
	assert.Equal(t, "wxyz", memRead(t, m, "f"))
}

// TestMemFSProcessCrashMakesNothingDurable: CrashKeepAll is a process
// crash. The page cache outlives the process, unsynced bytes and directory
// changes included, but they are no more durable than before it: a power
// loss after it, before anything is synced, loses them as it would have
// lost them before.
func TestMemFSProcessCrashMakesNothingDurable(t *testing.T) {
	m := NewMemFS()
	require.NoError(t, m.MkdirAll("d", 0o755))
	require.NoError(t, m.SyncDir("/"))
	require.NoError(t, m.WriteFile("d/old", []byte("old"), 0o644))
	require.NoError(t, m.WriteFile("d/gone", []byte("gone"), 0o644))
	f := memCreate(t, m, "d/new", "new") // neither its bytes nor its name synced
	require.NoError(t, f.Close())
	f = memOpen(t, m, "d/old")
	_, err := f.WriteAt([]byte("OLD+"), 0) // unsynced overwrite and growth
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.NoError(t, m.Remove("d/gone"))
	require.NoError(t, m.MkdirAll("d/sub", 0o755))
	require.NoError(t, m.WriteFile("d/sub/f", []byte("f"), 0o644)) // durable in an unsynced directory

	m.Crash(CrashOptions{Mode: CrashKeepAll})
	afterKill := map[string]string{"/d": "<dir>", "/d/new": "new", "/d/old": "OLD+", "/d/sub": "<dir>", "/d/sub/f": "f"}
	assert.Equal(t, afterKill, memTree(t, m), "a process crash keeps everything")
	m.Crash(CrashOptions{Mode: CrashKeepAll})
	assert.Equal(t, afterKill, memTree(t, m), "and again")

	m.Crash(CrashOptions{Mode: CrashDropUnsynced})
	assert.Equal(t, map[string]string{"/d": "<dir>", "/d/old": "old", "/d/gone": "gone"}, memTree(t, m),
		"a power loss after a process crash loses what was never synced")
}
