package eventlog_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Segment files that do not belong to the log — copied in by hand or by a
// tool, or brought back by a bad restore — among those a partition wrote:
// Open refuses them, naming the files, and Options.Repair sets them aside.

// segmentPath is the path of the .log file of partition 0 of "t" at base.
func segmentPath(dir string, base int64) string {
	return filepath.Join(partitionDir(dir), fmt.Sprintf("%020d.log", base))
}

// writeShifted writes to dst the batches of the segment file src with
// delta added to each base offset (which lies outside the checksum), as a
// segment of another log, or a copy renamed by hand, may hold them.
func writeShifted(t *testing.T, src, dst string, delta int64) {
	t.Helper()
	data := mustRead(t, src)
	for pos := 0; pos+61 <= len(data); pos += 12 + int(binary.BigEndian.Uint32(data[pos+8:])) {
		base := binary.BigEndian.Uint64(data[pos:])
		binary.BigEndian.PutUint64(data[pos:], base+uint64(delta))
	}
	require.NoError(t, os.WriteFile(dst, data, 0o644))
}

// requireStrayRefused checks that Open, a read-only Log and Verify refuse
// the log in dir over the stray segment file at path, naming it, the
// segment file before it (before) and the offsets in words (words), and
// that none of them changes anything. It returns the reason.
func requireStrayRefused(t *testing.T, dir string, opts *eventlog.Options, path, before string, words ...string) {
	t.Helper()
	state := dirState(t, dir)
	for range 2 {
		_, err := eventlog.Open(dir, opts)
		var ce *eventlog.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, path, ce.Path)
		assert.Contains(t, ce.Reason, filepath.Base(before))
		assert.Contains(t, ce.Reason, "Options.Repair")
		for _, w := range words {
			assert.Contains(t, ce.Reason, w)
		}
	}
	readOnly := *opts
	readOnly.ReadOnly = true
	_, err := eventlog.Open(dir, &readOnly)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce, "a read-only Log")
	assert.Equal(t, path, ce.Path)

	r := verify(t, dir)
	assert.True(t, r.Corrupt(), "%v", r.Problems)
	found := false
	for _, p := range r.Problems {
		if p.Kind == eventlog.ProblemCorrupt && p.Path == path {
			found = true
			assert.Contains(t, p.Reason, filepath.Base(before), p.String())
		}
	}
	assert.True(t, found, "Verify reports %s: %v", path, r.Problems)
	assert.Equal(t, state, dirState(t, dir), "refusing changes nothing")
}

// requireStraySetAside opens dir with Options.Repair and checks that the
// stray segment file at path was set aside, whole, that the n records the
// partition wrote (values v0 on, dense) are all readable, and that appends
// go on at n, also after the next Open without Repair.
func requireStraySetAside(t *testing.T, dir string, opts *eventlog.Options, path string, n int) {
	t.Helper()
	stray := mustRead(t, path)
	repair := *opts
	repair.Repair = true
	l, err := eventlog.Open(dir, &repair)
	require.NoError(t, err)
	rs := l.Recovery()
	var copies []string
	for _, c := range rs.Repaired {
		if strings.HasPrefix(c, path+".broken-") {
			copies = append(copies, c)
		}
	}
	if assert.Len(t, copies, 1, "%v", rs.Repaired) {
		assert.Equal(t, stray, mustRead(t, copies[0]), "the copy is the file")
	}
	assert.NoFileExists(t, path)
	p := partition(t, l, "t", 0)
	checkDense(t, p, n)
	off, err := p.Append(ctx, []eventlog.Record{rec("k", fmt.Sprintf("v%d", n))}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(n), off)
	require.NoError(t, l.Close())

	l = openLog(t, dir, opts)
	assert.Empty(t, l.Recovery().Repaired)
	checkDense(t, partition(t, l, "t", 0), n+1)
	require.NoError(t, l.Close())
	assert.False(t, verify(t, dir).Corrupt())
}

// A segment file whose base offset lies inside the range of the active
// segment would, as the last file, become the active segment and hide the
// active segment's records from that offset on.
func TestOpenRefusesSegmentInsideActive(t *testing.T) {
	cases := map[string]struct {
		crashed bool
		// stray writes the stray file into the partition of dir, whose
		// segments are logs, and returns its path and the segment it
		// overlaps.
		stray func(t *testing.T, dir string, logs []string) (path, before string)
	}{
		"empty, closed cleanly": {false, func(t *testing.T, dir string, logs []string) (string, string) {
			path := segmentPath(dir, 50)
			require.NoError(t, os.WriteFile(path, nil, 0o644))
			return path, logs[0]
		}},
		"a copy of the records, crashed": {true, func(t *testing.T, dir string, logs []string) (string, string) {
			path := segmentPath(dir, 50)
			writeShifted(t, logs[0], path, 50)
			return path, logs[0]
		}},
		// Only the last record of the active segment lies after the stray's
		// base, past its last index entry.
		"at the last record, closed cleanly": {false, func(t *testing.T, dir string, logs []string) (string, string) {
			path := segmentPath(dir, 99)
			writeShifted(t, logs[0], path, 99)
			return path, logs[0]
		}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{IndexIntervalBytes: 100, RecoveryPointInterval: time.Hour}
			if c.crashed {
				crashedLog(t, dir, opts, 100)
			} else {
				closedLog(t, dir, opts, 100)
			}
			logs := globPartition(t, dir, ".log")
			require.Len(t, logs, 1)
			path, before := c.stray(t, dir, logs)
			base := baseOf(t, path)
			requireStrayRefused(t, dir, opts, path, before, fmt.Sprintf("offsets %d to 99", base))
			requireStraySetAside(t, dir, opts, path, 100)
		})
	}
}

// severalSegments writes 200 records to partition 0 of "t" in dir, in
// segments of 4 KiB, in a session that ends cleanly before any recovery
// point checkpoint, so that no recovery.meta lies in the last segment. It
// returns the options and the segment files.
func severalSegments(t *testing.T, dir string) (*eventlog.Options, []string) {
	t.Helper()
	opts := &eventlog.Options{SegmentBytes: 4096, IndexIntervalBytes: 100, RecoveryPointInterval: time.Hour}
	logs := closedLog(t, dir, opts, 200)
	require.Greater(t, len(logs), 2)
	require.NoFileExists(t, filepath.Join(partitionDir(dir), "recovery.meta"))
	return opts, logs
}

// The same inside the last of several segments, after a session that
// left the recovery point outside it.
func TestOpenRefusesSegmentInsideLastOfSeveral(t *testing.T) {
	dir := t.TempDir()
	opts, logs := severalSegments(t, dir)
	last := logs[len(logs)-1]
	path := segmentPath(dir, baseOf(t, last)+3)
	writeShifted(t, last, path, 3)
	requireStrayRefused(t, dir, opts, path, last, fmt.Sprintf("offsets %d to 199", baseOf(t, path)))
	requireStraySetAside(t, dir, opts, path, 200)
}

// A segment file whose base offset lies past the log end would, as the
// last file, move the log end there, or past its records: offsets never
// written would be skipped, and its records served as the partition's.
func TestOpenRefusesSegmentPastEnd(t *testing.T) {
	cases := map[string]struct {
		crashed bool
		segment int64 // SegmentBytes
		base    int64 // the stray's base offset
		copied  bool  // it holds a copy of the first segment's records
	}{
		"empty, closed cleanly":             {base: 500},
		"a copy of the records, crashed":    {crashed: true, base: 1000, copied: true},
		"one offset past the end, crashed":  {crashed: true, base: 201},
		"after several segments, closed":    {segment: 4096, base: 300, copied: true},
		"after several segments, crashed":   {crashed: true, segment: 4096, base: 300},
		"one offset past the end, closed":   {base: 201, copied: true},
		"a copy of the records, far beyond": {base: 1 << 40, copied: true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &eventlog.Options{SegmentBytes: c.segment, IndexIntervalBytes: 100, RecoveryPointInterval: time.Hour}
			if c.crashed {
				crashedLog(t, dir, opts, 200)
			} else {
				closedLog(t, dir, opts, 200)
			}
			logs := globPartition(t, dir, ".log")
			require.Equal(t, c.segment > 0, len(logs) > 2)
			path := segmentPath(dir, c.base)
			if c.copied {
				writeShifted(t, logs[0], path, c.base)
			} else {
				require.NoError(t, os.WriteFile(path, nil, 0o644))
			}
			requireStrayRefused(t, dir, opts, path, logs[len(logs)-1], fmt.Sprintf("offsets 200 to %d were never written", c.base-1))
			requireStraySetAside(t, dir, opts, path, 200)
		})
	}
}

// A segment damaged before its end, in a session that left the recovery
// point before the last segment, is not taken for one that ends early:
// the last segment is no stray, and Open opens the log, whose reads report
// the damage.
func TestOpenKeepsSegmentAfterDamagedOne(t *testing.T) {
	dir := t.TempDir()
	opts, logs := severalSegments(t, dir)
	before := logs[len(logs)-2]
	data := mustRead(t, before)
	data[len(data)-3] ^= 0xff // in the last batch's value
	require.NoError(t, os.WriteFile(before, data, 0o644))

	l := openLog(t, dir, opts)
	p := partition(t, l, "t", 0)
	assert.Equal(t, int64(200), p.LogEndOffset())
	last := baseOf(t, logs[len(logs)-1])
	recs := readAll(t, p, last)
	assert.Len(t, recs, 200-int(last))
	_, err := p.Read(last-1, 1<<20)
	var ce *eventlog.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, before, ce.Path)
	off, err := p.Append(ctx, []eventlog.Record{rec("k", "v200")}, eventlog.AppendOptions{})
	require.NoError(t, err)
	assert.Equal(t, int64(200), off)
}
