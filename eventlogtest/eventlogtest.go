// Package eventlogtest gives unit tests a throwaway Log in one line:
//
//	func TestOrders(t *testing.T) {
//		l := eventlogtest.New(t, nil)
//		...
//	}
//
// The Log lives in t.TempDir(); unless given a filesystem of its own (see
// New), it acknowledges appends once they are written to the OS and never
// fsyncs (a test does not need to survive power loss: see NoSyncFS). It
// poisons expired record views (Options.PoisonViews), so that code keeping
// a RecordView's bytes past its loop step fails its tests, and is closed by
// t.Cleanup, which fails the test if Close reports an error.
package eventlogtest

import (
	"io/fs"
	"testing"

	"github.com/eventlog/eventlog"
)

// New opens a Log in a fresh t.TempDir(). opts may be nil; a nil opts.FS
// becomes NoSyncFS(), and then a zero opts.Durability becomes
// eventlog.DurabilityOS, since nothing is fsynced anyway; PoisonViews is
// always on. The Log is closed when the test ends.
//
// Pass opts.FS = eventlog.OSFS{} for a Log that fsyncs as in production,
// or an eventlog.MemFS to crash-test code: with an FS of its own, the Log
// keeps the durability opts ask for, by default eventlog.DurabilityFsync.
func New(t testing.TB, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	var o eventlog.Options
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = NoSyncFS()
		if o.Durability == eventlog.DurabilityDefault {
			o.Durability = eventlog.DurabilityOS
		}
	}
	o.PoisonViews = true
	l, err := eventlog.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatalf("eventlogtest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("eventlogtest: close: %v", err)
		}
	})
	return l
}

// NewTopic is New plus CreateTopic: a Log holding one topic with the given
// configuration.
func NewTopic(t testing.TB, name string, cfg eventlog.TopicConfig) *eventlog.Log {
	t.Helper()
	l := New(t, nil)
	if err := l.CreateTopic(name, cfg); err != nil {
		t.Fatalf("eventlogtest: create topic %q: %v", name, err)
	}
	return l
}

// NoSyncFS returns the operating system's filesystem (eventlog.OSFS) with
// fsync turned off: File.Sync and FS.SyncDir return at once. Everything else
// is the OS's, files are memory-mapped for reads as in production, and a
// crash of the process loses nothing, since every write still reaches the
// OS; a power loss or an OS crash may lose anything. It is what makes
// New's open, append and close take about a millisecond instead of the
// several fsyncs a real log pays for creating its files durably. Never use
// it for data you keep.
func NoSyncFS() eventlog.FS { return noSyncFS{eventlog.OSFS{}} }

type noSyncFS struct{ eventlog.FS }

func (f noSyncFS) OpenFile(name string, flag int, perm fs.FileMode) (eventlog.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if m, ok := file.(mapper); ok {
		return noSyncMappedFile{noSyncFile{file}, m}, nil
	}
	return noSyncFile{file}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ eventlog.File }

func (noSyncFile) Sync() error { return nil }

// mapper is the optional method of an eventlog.File that gives the Log
// zero-copy reads (see eventlog.File); a wrapped file keeps it.
type mapper interface {
	Mmap(size int) (data []byte, unmap func() error, err error)
}

type noSyncMappedFile struct {
	noSyncFile
	mapper
}
