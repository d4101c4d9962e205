package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) compactCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "compact [TOPIC...]",
		Short: "Compact topics now (default: every compacted topic but the internal ones)",
		Long: `Run the log cleaner now on the named topics, or on every topic whose
cleanup.policy compacts but the internal ones (__consumer_offsets and
__transaction_state, compacted when named): the newest record of each key
stays, older ones go, tombstones go once past delete.retention.ms. A topic
named that does not exist or does not compact fails the command before
any is compacted.
It needs the log's lock: stop the process that has the log open first
(that process's own cleaner compacts in the background anyway).`,
		Args: args(0, -1),
		RunE: a.runE(func(cmd *cobra.Command, names []string) (err error) {
			l, err := a.openWritable(false, nil)
			if err != nil {
				return err
			}
			defer closeLog(l, &err)
			if len(names) == 0 {
				for _, name := range l.Topics() {
					if cfg, err := l.TopicConfig(name); err == nil && compacts(cfg.CleanupPolicy) {
						names = append(names, name)
					}
				}
			}
			// Every topic named is checked before any is compacted: a
			// mistyped name must not leave the others compacted by a
			// command that failed.
			names = uniqueNames(names)
			for _, name := range names {
				cfg, err := l.TopicConfig(name)
				if err != nil {
					return err
				}
				if !compacts(cfg.CleanupPolicy) {
					return fmt.Errorf("topic %q: %w: cleanup.policy is %s, not compact", name, unprefixed(eventlog.ErrInvalidConfig), cfg.CleanupPolicy)
				}
			}
			results := []jsonCompact{}
			for _, name := range names {
				before := l.Stats().Cleaner
				stop := a.showCleanerProgress(l, name, before.BytesRead)
				err := l.Compact(cmd.Context(), name)
				stop()
				if err != nil {
					return err
				}
				after := l.Stats().Cleaner
				results = append(results, jsonCompact{Topic: name, Runs: after.Runs - before.Runs,
					RecordsRemoved: after.RecordsRemoved - before.RecordsRemoved,
					BytesRead:      after.BytesRead - before.BytesRead, BytesWritten: after.BytesWritten - before.BytesWritten})
			}
			if a.json {
				return printJSON(a.stdout, results)
			}
			if len(results) == 0 {
				fmt.Fprintln(a.stdout, "no topic compacts (cleanup.policy=delete everywhere)")
				return nil
			}
			t := newTable(a.stdout, "TOPIC", "RUNS", "RECORDS-REMOVED", "BYTES-READ", "BYTES-WRITTEN")
			for _, r := range results {
				t.row(r.Topic, r.Runs, r.RecordsRemoved, r.BytesRead, r.BytesWritten)
			}
			return t.flush()
		}),
	}
}

// showCleanerProgress draws the bytes the cleaner has read since base,
// until the returned function is called; nothing unless stderr is a
// terminal.
func (a *app) showCleanerProgress(l *eventlog.Log, topic string, base int64) (stop func()) {
	bar := a.newProgress("compact "+topic, "B", 0, false)
	if bar == nil {
		return func() {}
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				bar.update(l.Stats().Cleaner.BytesRead - base)
			}
		}
	}()
	return func() {
		close(done)
		<-exited
		bar.done()
	}
}

// jsonCompact is the work compact did on one topic.
type jsonCompact struct {
	Topic          string `json:"topic"`
	Runs           int64  `json:"runs"`
	RecordsRemoved int64  `json:"records_removed"`
	BytesRead      int64  `json:"bytes_read"`
	BytesWritten   int64  `json:"bytes_written"`
}

// compacts reports whether a topic of cleanup policy p compacts.
func compacts(p eventlog.CleanupPolicy) bool {
	return p == eventlog.CleanupCompact || p == eventlog.CleanupCompactDelete
}
