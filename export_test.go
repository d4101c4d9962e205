package eventlog

import "errors"

// Abandon drops l as a crashed process would: the lock and the files are
// released, nothing is flushed, no clean-shutdown marker is written. The
// goroutines stop so tests do not leak them.
func Abandon(l *Log) error {
	l.closeOnce.Do(func() {
		l.shutdown()
		defer l.ops.Unlock()
		l.closeErr = errors.Join(l.releaseTopics(), l.lock.Close())
	})
	return l.closeErr
}

// EnforceRetention runs the background retention check now.
func EnforceRetention(l *Log) error { return l.enforceRetention() }

// ConsumerWakeups counts the times a Poll of c, blocked waiting for records,
// was woken by a partition's high watermark moving.
func ConsumerWakeups(c *Consumer) int64 { return c.wakeups.Load() }

// CheckpointRecoveryPoints persists every partition's recovery point now,
// as the background checkpointer does every RecoveryPointInterval.
func CheckpointRecoveryPoints(l *Log) error {
	if !l.enter() {
		return ErrClosed
	}
	defer l.exit()
	return l.checkpointAll()
}

// ReadAheadBatches counts the batches whose CRC a read-ahead verifier
// checked for a view scan that has ended.
func ReadAheadBatches(l *Log) int64 { return l.readAheadBatches.Load() }
