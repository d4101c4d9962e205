package eventlog_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// TestUpdateTopicConfig checks UpdateTopicConfig's contract: the function
// gets the topic's configuration, what it leaves is stored as by
// AlterTopicConfig, and an error of its, or an invalid result, changes
// nothing.
func TestUpdateTopicConfig(t *testing.T) {
	fsys := eventlog.NewMemFS()
	l := openLog(t, "/d", &eventlog.Options{FS: fsys})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{Partitions: 2, Retention: time.Hour}))

	var seen eventlog.TopicConfig
	require.NoError(t, l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
		seen = *cfg
		cfg.SegmentBytes = 4096
		return nil
	}))
	assert.Equal(t, eventlog.TopicConfig{Partitions: 2, Retention: time.Hour}, seen)
	want := eventlog.TopicConfig{Partitions: 2, Retention: time.Hour, SegmentBytes: 4096}
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, want, cfg)

	refused := errors.New("refused")
	err = l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
		cfg.Retention = time.Minute
		return refused
	})
	assert.ErrorIs(t, err, refused)
	err = l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
		cfg.SegmentBytes = 10
		return nil
	})
	assert.ErrorIs(t, err, eventlog.ErrInvalidConfig)
	cfg, err = l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, want, cfg, "nothing changed")

	err = l.UpdateTopicConfig(ctx, "missing", func(*eventlog.TopicConfig) error {
		t.Error("called for a missing topic")
		return nil
	})
	assert.ErrorIs(t, err, eventlog.ErrTopicNotFound)
	err = l.UpdateTopicConfig(ctx, "__consumer_offsets", func(*eventlog.TopicConfig) error { return nil })
	assert.ErrorIs(t, err, eventlog.ErrInvalidTopic)

	// The function must not call the Log's topic administration, which
	// waits for it: such a call fails instead of waiting for ever.
	err = l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
		return l.AlterTopicConfig(ctx, "t", *cfg)
	})
	assert.ErrorIs(t, err, eventlog.ErrConcurrentUse)

	// Stored durably, as AlterTopicConfig stores it.
	require.NoError(t, l.Close())
	l = openLog(t, "/d", &eventlog.Options{FS: fsys})
	cfg, err = l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, want, cfg)
	require.NoError(t, l.Close())

	ro := openLog(t, "/d", &eventlog.Options{FS: fsys, ReadOnly: true})
	err = ro.UpdateTopicConfig(ctx, "t", func(*eventlog.TopicConfig) error {
		t.Error("called on a read-only Log")
		return nil
	})
	assert.ErrorIs(t, err, eventlog.ErrReadOnly)
}

// holdTopicMeta makes the next replacement of topic t's topic.meta in
// fsys wait, once it has started, until release is closed; entered is
// closed when it waits.
func holdTopicMeta(fsys *eventlog.MemFS, topic string) (entered, release chan struct{}) {
	entered, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsys.SetFault(func(op eventlog.Op, name string) error {
		if op == eventlog.OpRename && strings.HasPrefix(name, "/d/topics/"+topic+"/topic.meta") {
			once.Do(func() {
				close(entered)
				<-release
			})
		}
		return nil
	})
	return entered, release
}

// An UpdateTopicConfig started while an AlterTopicConfig is under way
// sees that alteration, and keeps it: its function runs only once the
// alteration is done.
func TestUpdateTopicConfigAfterAlter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fsys := eventlog.NewMemFS()
		l := openLog(t, "/d", &eventlog.Options{FS: fsys})
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))

		entered, release := holdTopicMeta(fsys, "t")
		altered := make(chan error, 1)
		go func() { altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Retention: time.Hour}) }()
		<-entered // the alteration writes topic.meta

		var called atomic.Bool
		var seen eventlog.TopicConfig
		updated := make(chan error, 1)
		go func() {
			updated <- l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
				called.Store(true)
				seen = *cfg
				cfg.SegmentBytes = 4096
				return nil
			})
		}()
		synctest.Wait()
		assert.False(t, called.Load(), "the function waits for the alteration under way")
		close(release)
		require.NoError(t, <-altered)
		require.NoError(t, <-updated)
		fsys.SetFault(nil)

		assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Hour}, seen)
		cfg, err := l.TopicConfig("t")
		require.NoError(t, err)
		assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Hour, SegmentBytes: 4096}, cfg, "both changes")
		require.NoError(t, l.Close())
	})
}

// An AlterTopicConfig made while an UpdateTopicConfig's function runs
// waits for the update to be stored, rather than being stored in between
// and overwritten by it.
func TestAlterTopicConfigWaitsForUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := openLog(t, "/d", &eventlog.Options{FS: eventlog.NewMemFS()})
		require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))

		altered := make(chan error, 1)
		require.NoError(t, l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
			go func() { altered <- l.AlterTopicConfig(ctx, "t", eventlog.TopicConfig{Retention: time.Hour}) }()
			synctest.Wait()
			select {
			case err := <-altered:
				t.Errorf("AlterTopicConfig returned (%v) while an update was under way", err)
			default:
			}
			cfg.SegmentBytes = 4096
			return nil
		}))
		require.NoError(t, <-altered)
		cfg, err := l.TopicConfig("t")
		require.NoError(t, err)
		assert.Equal(t, eventlog.TopicConfig{Partitions: 1, Retention: time.Hour}, cfg, "the alteration, made last, replaced the configuration")
		require.NoError(t, l.Close())
	})
}

// Concurrent updates of a topic's configuration, interleaved with
// CreatePartitions, lose none of each other's changes.
func TestUpdateTopicConfigConcurrent(t *testing.T) {
	l := openLog(t, "/d", &eventlog.Options{FS: eventlog.NewMemFS()})
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{RetentionBytes: 1 << 20}))
	const goroutines, updates = 4, 10
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range updates {
				assert.NoError(t, l.UpdateTopicConfig(ctx, "t", func(cfg *eventlog.TopicConfig) error {
					cfg.RetentionBytes++
					return nil
				}))
			}
		})
	}
	wg.Go(func() {
		for n := 2; n <= 5; n++ {
			assert.NoError(t, l.CreatePartitions(ctx, "t", n))
		}
	})
	wg.Wait()
	cfg, err := l.TopicConfig("t")
	require.NoError(t, err)
	assert.Equal(t, eventlog.TopicConfig{Partitions: 5, RetentionBytes: 1<<20 + goroutines*updates}, cfg)
}
