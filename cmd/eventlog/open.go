package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

// openReadOnly opens the log for the commands that only read: without the
// lock, so that they work while another process writes it.
func (a *app) openReadOnly() (*eventlog.Log, error) {
	return eventlog.Open(a.dir, &eventlog.Options{ReadOnly: true})
}

// readOnlyE is runE for a command that only reads: fn gets the log opened
// read-only, and it is closed after.
func (a *app) readOnlyE(fn func(cmd *cobra.Command, args []string, l *eventlog.Log) error) func(*cobra.Command, []string) error {
	return a.runE(func(cmd *cobra.Command, args []string) (err error) {
		l, err := a.openReadOnly()
		if err != nil {
			return err
		}
		defer closeLog(l, &err)
		return fn(cmd, args, l)
	})
}

// openWritable opens the log for a command that writes. The directory
// must hold a log already unless create is set: a mistyped --dir must not
// become a new, empty log. A log held by another process is refused with
// exit code 4.
//
// The Options a service opens the log with are not stored in it, so opts
// holds the library's defaults but for what the command sets, except
// that idempotent producers and transactional IDs are never forgotten
// (see keepProducers), nor committed offsets: a service with a longer
// OffsetsRetention than the default of 7 days keeps them longer, and
// expires them on its own schedule once it reopens the log.
func (a *app) openWritable(create bool, opts *eventlog.Options) (*eventlog.Log, error) {
	if err := a.checkLogDir(create); err != nil {
		return nil, err
	}
	o := eventlog.Options{}
	if opts != nil {
		o = *opts
	}
	if o.ProducerIDExpiration == 0 {
		o.ProducerIDExpiration = keepProducers
	}
	if o.TransactionalIDExpiration == 0 {
		o.TransactionalIDExpiration = keepProducers
	}
	if o.OffsetsRetention == 0 {
		o.OffsetsRetention = eventlog.RetainForever
	}
	l, err := eventlog.Open(a.dir, &o)
	if errors.Is(err, eventlog.ErrLocked) {
		return nil, a.heldError()
	}
	return l, err
}

// checkLogDir fails unless the directory holds a log. With create, a
// new or empty directory will do too, where Open makes a new log; not one
// that holds other files: a mistyped --dir (a topic's directory, a home
// directory) must not get a log mixed into it.
func (a *app) checkLogDir(create bool) error {
	return checkLogDir(eventlog.OSFS{}, a.dir, create)
}

// checkLogDir is the method's body, looking at dir through fsys. It says
// that dir holds no log only when dir or its topics directory is missing
// or not a directory; any other error, such as a permission denied, is
// returned as it is.
func checkLogDir(fsys eventlog.FS, dir string, create bool) error {
	// The topics directory is part of the documented layout.
	topics := filepath.Join(dir, "topics")
	info, err := fsys.Stat(topics)
	switch {
	case err == nil && info.IsDir():
		return nil
	case err == nil:
		err = fmt.Errorf("%s is not a directory", topics)
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
	default:
		return err
	}
	if !create {
		return fmt.Errorf("%s holds no eventlog log: %w", dir, err)
	}
	entries, err := fsys.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil // Open makes it
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s holds no eventlog log but is not empty: topics create makes a new log only in a new or empty directory", dir)
	}
	return nil
}

// validateNewTopic checks name and cfg as CreateTopic would, on a Log in
// memory, so that a topic refused in a directory that holds no log leaves
// no new, empty log behind.
func validateNewTopic(name string, cfg eventlog.TopicConfig) (err error) {
	l, err := eventlog.Open("/", &eventlog.Options{FS: eventlog.NewMemFS()})
	if err != nil {
		return err
	}
	defer closeLog(l, &err)
	return l.ValidateCreateTopic(name, cfg)
}

// checkNotHeld fails with exit code 4 while another process holds the
// log's lock, taking it and letting it go at once, so that a command that
// would otherwise ask before opening the log does not ask in vain. Should
// another process take the lock in between, openWritable still refuses.
// Without a lock file nobody holds the lock, and none is created: the
// answer may be no, which must leave the directory as it was.
func (a *app) checkNotHeld() error {
	// The lock file is part of the documented layout.
	path := filepath.Join(a.dir, "LOCK")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	lock, err := eventlog.OSFS{}.Lock(path)
	if errors.Is(err, eventlog.ErrLocked) {
		return a.heldError()
	}
	if err != nil {
		return err
	}
	return lock.Close()
}

// keepProducers is the ProducerIDExpiration, and the
// TransactionalIDExpiration, of the commands that write.
// A Log forgets the producers idle longer than it, in a snapshot that the
// next Open reads and when the cleaner drops their last batches; the
// library's default, 24 hours, would make a command that runs past a
// checkpoint (a second) forget producers that a service with a longer
// expiration still counts on to recognise a retry as a repeat. Keeping
// them is right whatever the service's setting: the service forgets them
// when it reopens the log, on its own schedule. So with transactional
// IDs, which the Log expires, with a tombstone, once idle for 7 days by
// default.
const keepProducers = 100 * 365 * 24 * time.Hour

func (a *app) heldError() error {
	return &codeError{code: exitLocked, err: fmt.Errorf(
		"%s is held by another process, which has the log open for writing: stop it first (commands that only read work meanwhile)", a.dir)}
}

// closeLog closes l, keeping the first error.
func closeLog(l *eventlog.Log, err *error) {
	if cerr := l.Close(); *err == nil && cerr != nil {
		*err = cerr
	}
}

// againIfGone runs fn, and once more after refreshing l if it failed on a
// segment file that the process writing the log deleted since the
// read-only Log l listed it (see retryGone), or on offsets it deleted: a
// read that meets a deleted file lists its partition again and goes on,
// and the offsets that fn worked out before may then be below the new log
// start (ErrOffsetOutOfRange).
func againIfGone(l *eventlog.Log, fn func() error) error {
	err := fn()
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, eventlog.ErrOffsetOutOfRange) {
		return err
	}
	if rerr := l.Refresh(); rerr != nil {
		return errors.Join(err, rerr)
	}
	return fn()
}
