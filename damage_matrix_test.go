package eventlog_test

import (
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// damageBase writes a small log with a plain, a compacted and a
// transactional topic and committed offsets, closes it and returns the
// options it was written with.
func damageBase(t *testing.T, dir string) *eventlog.Options {
	opts := &eventlog.Options{Now: newClock().Now, SegmentBytes: 1024, IndexIntervalBytes: 128}
	l := openLog(t, dir, opts)
	require.NoError(t, l.CreateTopic("t", eventlog.TopicConfig{}))
	require.NoError(t, l.CreateTopic("c", eventlog.TopicConfig{CleanupPolicy: eventlog.CleanupCompact}))
	require.NoError(t, l.CreateTopic("x", eventlog.TopicConfig{}))
	appendN(t, partition(t, l, "t", 0), 40, eventlog.AppendOptions{})
	_, err := l.DeleteRecords(ctx, "t", 0, 5) // a log-start checkpoint
	require.NoError(t, err)
	cp := partition(t, l, "c", 0)
	for i := range 60 {
		putKV(t, cp, fmt.Sprintf("k%d", i%5), []byte(fmt.Sprintf("v%d", i)))
	}
	require.NoError(t, l.Compact(ctx, "c"))
	p, err := l.NewProducer(&eventlog.ProducerOptions{TransactionalID: "tx", Partitioner: eventlog.ManualPartitioner{}, Linger: -1})
	require.NoError(t, err)
	for i := range 6 {
		require.NoError(t, p.BeginTransaction())
		send(t, p, "x", 0, fmt.Sprintf("x%d", i))
		if i%3 == 2 {
			require.NoError(t, p.AbortTransaction(ctx))
		} else {
			require.NoError(t, p.CommitTransaction(ctx))
		}
	}
	require.NoError(t, p.Close())
	for i := range 30 {
		commitOffsets(t, l, "g", map[eventlog.TopicPartition]int64{{Topic: "t"}: int64(i)})
	}
	require.NoError(t, l.Close())
	return opts
}

// snapshotDir returns the contents of every file under dir, by path
// relative to dir.
func snapshotDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		out[strings.TrimPrefix(path, dir+"/")] = b
		return err
	}))
	return out
}

// writeDir writes files, as snapshotDir returns them, under dir.
func writeDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
}

// contents reads every partition's records, "topic/part:offset=value".
func contents(l *eventlog.Log) (out []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC in read: %v", r)
		}
	}()
	for _, tp := range []string{"t", "c", "x", "__consumer_offsets"} {
		cfg, err := l.TopicConfig(tp)
		if err != nil {
			return out, err
		}
		for i := range cfg.Partitions {
			p, err := l.Partition(tp, int32(i))
			if err != nil {
				return out, err
			}
			from := p.LogStartOffset()
			for {
				recs, err := p.Read(from, 64<<10)
				if err != nil {
					return out, fmt.Errorf("read %s/%d@%d: %w", tp, i, from, err)
				}
				if len(recs) == 0 {
					break
				}
				for _, r := range recs {
					out = append(out, fmt.Sprintf("%s/%d:%d=%q", tp, i, r.Offset, r.Value))
				}
				from = recs[len(recs)-1].Offset + 1
			}
		}
	}
	return out, nil
}

// tryOpen opens dir, turning a panic into an error.
func tryOpen(dir string, opts *eventlog.Options) (l *eventlog.Log, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("PANIC in Open: %v", r)
		}
	}()
	return eventlog.Open(dir, opts)
}

// damage is a way to damage a file.
type damage struct {
	name  string
	apply func(t *testing.T, path string, b []byte, rng *rand.Rand) // writes the damaged file
}

var damages = []damage{
	{"flip", func(t *testing.T, p string, b []byte, rng *rand.Rand) {
		b = slices.Clone(b)
		if len(b) > 0 {
			b[rng.IntN(len(b))] ^= 1 << rng.IntN(8)
		}
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}},
	{"truncate", func(t *testing.T, p string, b []byte, rng *rand.Rand) {
		require.NoError(t, os.WriteFile(p, b[:len(b)/2], 0o644))
	}},
	{"zero", func(t *testing.T, p string, b []byte, rng *rand.Rand) {
		b = slices.Clone(b)
		clear(b[len(b)/4 : len(b)/2])
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}},
	{"delete", func(t *testing.T, p string, b []byte, rng *rand.Rand) { require.NoError(t, os.Remove(p)) }},
	{"garbage", func(t *testing.T, p string, b []byte, rng *rand.Rand) {
		g := make([]byte, len(b))
		for i := range g {
			g[i] = byte(rng.Uint32())
		}
		require.NoError(t, os.WriteFile(p, g, 0o644))
	}},
}

// TestDamageMatrix damages each file of a small log (a plain, a
// compacted and a transactional topic, __consumer_offsets and
// __transaction_state) in several ways and checks what the package
// promises: no panic; a failing Open names the file and changes nothing;
// a read-only Open behaves the same and changes nothing; an Open that
// succeeds serves every record, or fails reads with an error naming the
// file; Verify names the file of any damage that Open or a read meets;
// and Repair, where Open refused, opens with no record that was not there.
// It complements the fuzz tests, which damage one partition's segment.
func TestDamageMatrix(t *testing.T) {
	base := t.TempDir()
	opts := damageBase(t, base)
	l := openLog(t, base, opts)
	want, err := contents(l)
	require.NoError(t, err)
	require.NoError(t, l.Close())
	files := snapshotDir(t, base)
	last := map[string]string{} // a partition's directory: its last segment
	for name := range files {
		if strings.HasSuffix(name, ".log") && name > last[filepath.Dir(name)] {
			last[filepath.Dir(name)] = name
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, crashed := range []bool{false, true} {
		for _, name := range slices.Sorted(maps.Keys(files)) {
			if name == "LOCK" || crashed && name == "CLEAN_SHUTDOWN" {
				continue
			}
			for _, d := range damages {
				if crashed && (d.name != "flip" && d.name != "truncate" || !strings.HasSuffix(name, ".log")) {
					continue // kept short: a crash changes how segments are read
				}
				t.Run(fmt.Sprintf("crashed=%v/%s/%s", crashed, name, d.name), func(t *testing.T) {
					checkDamage(t, opts, files, want, name, d, rng, crashed, name != last[filepath.Dir(name)])
				})
			}
		}
	}
}

// checkDamage applies d to the file name of a copy of files and checks it;
// earlier is set for a file that is not a partition's last segment.
func checkDamage(t *testing.T, opts *eventlog.Options, files map[string][]byte, want []string, name string, d damage, rng *rand.Rand, crashed, earlier bool) {
	dir := t.TempDir()
	writeDir(t, dir, files)
	if crashed {
		require.NoError(t, os.Remove(filepath.Join(dir, "CLEAN_SHUTDOWN")))
	}
	path := filepath.Join(dir, name)
	d.apply(t, path, files[name], rng)
	damaged := snapshotDir(t, dir)
	// A .log lost before the last is documented as unnoticed by Open, and
	// a lost log-start checkpoint cannot be told from none: what
	// DeleteRecords removed comes back.
	lostEarlier := d.name == "delete" && (strings.HasSuffix(name, ".log") && earlier || strings.HasSuffix(name, "log-start-offset"))
	noticed := false

	for _, readOnly := range []bool{true, false} {
		o := *opts
		o.ReadOnly = readOnly
		l, err := tryOpen(dir, &o)
		if err != nil {
			assert.NotContains(t, err.Error(), "PANIC")
			assert.Contains(t, err.Error(), path, "readOnly=%v: the error names the file", readOnly)
			noticed = true
		} else {
			got, err := contents(l)
			require.NoError(t, l.Close())
			switch {
			case err != nil:
				assert.NotContains(t, err.Error(), "PANIC")
				if !lostEarlier {
					assert.Contains(t, err.Error(), path, "readOnly=%v: the read error names the file", readOnly)
					noticed = true
				}
			case !lostEarlier:
				assert.Equal(t, want, got, "readOnly=%v: every record", readOnly)
			}
		}
		if readOnly || err != nil {
			assert.True(t, mapsEqual(damaged, snapshotDir(t, dir)), "readOnly=%v: no file changed", readOnly)
		}
		if err == nil {
			break // Open wrote, maybe cut a torn tail
		}
	}
	if strings.HasSuffix(name, "producer-ids.meta") && d.name != "delete" {
		noticed = true // by the first producer id allocation
	}
	if noticed {
		r, err := eventlog.Verify(ctx, dir, nil)
		require.NoError(t, err)
		assert.True(t, slices.ContainsFunc(r.Problems, func(p eventlog.Problem) bool { return p.Path == path }), "Verify names the file: %v", r.Problems)
	}

	o := *opts
	o.Repair = true
	l, err := tryOpen(dir, &o)
	if strings.HasSuffix(name, "topic.meta") {
		return // a topic's configuration is not repaired
	}
	require.NoError(t, err, "Repair opens")
	got, err := contents(l)
	require.NoError(t, l.Close())
	// In the damaged partition (a repair that cuts a topic may commit
	// offsets that now lie past its end again, lower).
	// A log-start checkpoint set aside brings back what DeleteRecords
	// removed, as documented.
	if part, ok := strings.CutPrefix(filepath.Dir(name), "topics/"); ok && err == nil && !strings.HasSuffix(name, "log-start-offset") {
		for _, g := range got {
			if strings.HasPrefix(g, part+":") {
				assert.Contains(t, want, g, "Repair brings no record that was not there")
			}
		}
	}
}

// mapsEqual reports whether two snapshotDir results are the same.
func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}
