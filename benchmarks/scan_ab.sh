#!/usr/bin/env bash
# scan_ab.sh measures a view scan of this checkout against a base revision
# and a bbolt cursor scan of the same records, in one process, one scan of
# each in turn, so that all three see the same machine: on a shared
# machine, scans run in separate processes minutes apart differ by more
# than the few percent this is meant to resolve. It builds, in a temporary
# directory, a module holding the base revision's root package under the
# path eventlogbase and a benchmark that fills a log of each and a bbolt
# file with 1 million records (16-byte keys, 100-byte values, as
# BenchmarkScanVsBbolt does), then scans them from the start in rotation
# with one of BenchmarkScanVsBbolt's loop bodies, timing every scan:
# `lengths` (adding up key and value lengths) unless SCAN_AB_BODY=hash
# (hashing every key and value); the branch's scan goes through
# Partition.Views, or through Partition.Cursor if SCAN_AB_CURSOR=1 (its
# View) or SCAN_AB_CURSOR=kv (its Key and Value); the base's through
# Partition.Views, or through its Cursor's Key and Value if
# SCAN_AB_BASE_CURSOR=kv. It
# reports each one's median time per scan, and the branch's and the base's
# throughput relative to bbolt's (x-bbolt) and the branch's
# relative to the base's (x-base), by medians. BENCHMARKS.md (issue 8)
# quotes it.
#
# Usage: bash benchmarks/scan_ab.sh [base revision, default main] [test binary flags]
# for example: bash benchmarks/scan_ab.sh main -test.benchtime=40x -test.count=4
# SCAN_AB_RUN prefixes the benchmark's run (not the build), for example
# SCAN_AB_RUN='chrt -f 50' to keep other work on the machine from
# preempting it.
set -euo pipefail
case ${SCAN_AB_BODY:=lengths} in
  lengths) add='sum += uint64(len(k) + len(v))' ;;
  hash) add='sum += maphash.Bytes(seed, k) ^ maphash.Bytes(seed, v)' ;;
  *) echo "SCAN_AB_BODY=$SCAN_AB_BODY: want lengths or hash" >&2; exit 2 ;;
esac
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
rev=${1:-main}
shift || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir "$work/base"
git -C "$root" archive "$rev" | tar -x -C "$work/base"
(
  cd "$work/base"
  find . -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
  rm -f ./*_test.go
  sed -i 's|^module github.com/eventlog/eventlog$|module eventlogbase|' go.mod
)
bbolt=$(awk '$1 == "go.etcd.io/bbolt" { print $2 }' "$root/benchmarks/go.mod")
cat > "$work/go.mod" <<EOF
module scanab

go 1.25.0

require (
	eventlogbase v0.0.0
	github.com/eventlog/eventlog v0.0.0
	go.etcd.io/bbolt $bbolt
)

replace (
	eventlogbase => ./base
	github.com/eventlog/eventlog => $root
)
EOF
cat > "$work/ab_test.go" <<'EOF'
package scanab

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"path/filepath"
	"slices"
	"testing"
	"time"

	base "eventlogbase"

	"github.com/eventlog/eventlog"
	bolt "go.etcd.io/bbolt"
)

const n = 1_000_000

func key(i int) []byte { return fmt.Appendf(nil, "key-%012d", i) }

func value(i int) []byte {
	v := make([]byte, 100)
	binary.BigEndian.PutUint64(v, uint64(i))
	for j := 8; j < len(v); j++ {
		v[j] = byte('a' + (i+j)%26)
	}
	return v
}

func BenchmarkScanAB(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()

	l, err := eventlog.Open(filepath.Join(dir, "branch"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	bl, err := base.Open(filepath.Join(dir, "base"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bl.Close()
	if err := l.CreateTopic("scan", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}); err != nil {
		b.Fatal(err)
	}
	if err := bl.CreateTopic("scan", base.TopicConfig{Durability: base.DurabilityOS}); err != nil {
		b.Fatal(err)
	}
	p, err := l.Partition("scan", 0)
	if err != nil {
		b.Fatal(err)
	}
	bp, err := bl.Partition("scan", 0)
	if err != nil {
		b.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	bucket := []byte("records")
	for start := 0; start < n; start += 1000 {
		recs := make([]eventlog.Record, 0, 1000)
		baseRecs := make([]base.Record, 0, 1000)
		for i := start; i < start+1000; i++ {
			recs = append(recs, eventlog.Record{Key: key(i), Value: value(i)})
			baseRecs = append(baseRecs, base.Record{Key: key(i), Value: value(i)})
		}
		if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := bp.Append(ctx, baseRecs, base.AppendOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			bk, err := tx.CreateBucketIfNotExists(bucket)
			if err != nil {
				return err
			}
			bk.FillPercent = 1.0
			for i := start; i < start+1000; i++ {
				if err := bk.Put(key(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}

	var sum uint64
	seed := maphash.MakeSeed()
	_ = seed                                  // used by the hash body only
	add := func(k, v []byte) { ADD_BODY }     // SCAN_AB_BODY's, put in by the script
	scans := []func() error{
		func() error { // the branch
			BRANCH_SCAN
		},
		func() error { // the base
			BASE_SCAN
		},
		func() error { // bbolt
			return db.View(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucket).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					add(k, v)
				}
				return nil
			})
		},
	}
	var want uint64 // what the first scan saw; every other must see the same
	times := make([][]time.Duration, len(scans))
	for i := 0; b.Loop(); i++ {
		for k := range scans {
			k = (k + i) % len(scans) // rotate which goes first
			sum = 0
			s := time.Now()
			if err := scans[k](); err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(s))
			if want == 0 {
				want = sum
			}
			if sum != want || sum == 0 {
				b.Fatalf("scan %d summed its keys and values to %d, the first scan to %d", k, sum, want)
			}
		}
	}
	median := func(d []time.Duration) float64 { slices.Sort(d); return float64(d[len(d)/2]) }
	branch, baseline, bbolt := median(times[0]), median(times[1]), median(times[2])
	b.ReportMetric(branch/1e6, "branch-p50-ms")
	b.ReportMetric(baseline/1e6, "base-p50-ms")
	b.ReportMetric(bbolt/1e6, "bbolt-p50-ms")
	b.ReportMetric(bbolt/branch, "branch-x-bbolt")
	b.ReportMetric(bbolt/baseline, "base-x-bbolt")
	b.ReportMetric(baseline/branch, "x-base")
}
EOF
sed -i "s|ADD_BODY|$add|" "$work/ab_test.go"
if [ "${SCAN_AB_CURSOR:-}" = 1 ]; then
  branch_scan='c := p.Cursor(0); defer c.Close(); for c.Next() { v := c.View(); add(v.Key, v.Value) }; return c.Err()'
elif [ "${SCAN_AB_CURSOR:-}" = kv ]; then
  branch_scan='c := p.Cursor(0); defer c.Close(); for c.Next() { add(c.Key(), c.Value()) }; return c.Err()'
else
  branch_scan='for v, err := range p.Views(0) { if err != nil { return err }; add(v.Key, v.Value) }; return nil'
fi
sed -i "s|BRANCH_SCAN|$branch_scan|" "$work/ab_test.go"
if [ "${SCAN_AB_BASE_CURSOR:-}" = kv ]; then
  base_scan='c := bp.Cursor(0); defer c.Close(); for c.Next() { add(c.Key(), c.Value()) }; return c.Err()'
else
  base_scan='for v, err := range bp.Views(0) { if err != nil { return err }; add(v.Key, v.Value) }; return nil'
fi
sed -i "s|BASE_SCAN|$base_scan|" "$work/ab_test.go"
cd "$work"
gofmt -w ab_test.go
go mod tidy >/dev/null
go test -c -o scanab.test .
${SCAN_AB_RUN:-} ./scanab.test -test.run '^$' -test.bench ScanAB "${@:--test.benchtime=30x}"
