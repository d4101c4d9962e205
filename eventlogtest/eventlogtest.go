// Package eventlogtest gives unit tests a throwaway Log in one line:
//
//	func TestOrders(t *testing.T) {
//		l := eventlogtest.New(t, nil)
//		...
//	}
//
// The Log lives in t.TempDir(), acknowledges appends once they are written to
// the OS (no fsync: a test does not need to survive power loss), poisons
// expired record views (Options.PoisonViews), so that code keeping a
// RecordView's bytes past its loop step fails its tests, and is closed by
// t.Cleanup, which fails the test if Close reports an error.
package eventlogtest

import (
	"testing"

	"github.com/eventlog/eventlog"
)

// New opens a Log in a fresh t.TempDir(). opts may be nil; a nil
// opts.Durability becomes eventlog.DurabilityOS, and PoisonViews is always
// on. The Log is closed when the test ends.
func New(t testing.TB, opts *eventlog.Options) *eventlog.Log {
	t.Helper()
	var o eventlog.Options
	if opts != nil {
		o = *opts
	}
	if o.Durability == eventlog.DurabilityDefault {
		o.Durability = eventlog.DurabilityOS
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
