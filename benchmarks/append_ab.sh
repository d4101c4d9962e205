#!/usr/bin/env bash
# append_ab.sh measures the append path of this checkout against a base
# revision in one process, one Append each in turn, so that both see the
# same machine from microsecond to microsecond: on a shared machine, two
# test binaries run one after the other differ by more than the few percent
# this is meant to resolve. It builds, in a temporary directory, a module
# holding the base revision's root package under the path eventlogbase and
# a benchmark that appends to a log of each (DurabilityOS, so that no fsync
# hides the difference), timing every call. It reports each side's median
# time per Append and the branch's throughput relative to the base: x-p50
# by medians, which preemptions hitting either side at random do not move,
# and x-mean by means, which they do. BENCHMARKS.md (issue 10) quotes it.
#
# Usage: bash benchmarks/append_ab.sh [base revision, default main] [go test flags]
set -euo pipefail
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
cat > "$work/go.mod" <<EOF
module appendab

go 1.25.0

require (
	eventlogbase v0.0.0
	github.com/eventlog/eventlog v0.0.0
)

replace (
	eventlogbase => ./base
	github.com/eventlog/eventlog => $root
)
EOF
cat > "$work/ab_test.go" <<'EOF'
package appendab

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	base "eventlogbase"

	"github.com/eventlog/eventlog"
)

func BenchmarkAppendAB(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 1000} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			recs := make([]eventlog.Record, n)
			baseRecs := make([]base.Record, n)
			ts := time.UnixMilli(1_700_000_000_000)
			for i := range recs {
				k, v := fmt.Appendf(nil, "key-%012d", i), make([]byte, 100)
				recs[i] = eventlog.Record{Key: k, Value: v, Timestamp: ts}
				baseRecs[i] = base.Record{Key: k, Value: v, Timestamp: ts}
			}
			l, err := eventlog.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			bl, err := base.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer bl.Close()
			if err := l.CreateTopic("t", eventlog.TopicConfig{Durability: eventlog.DurabilityOS}); err != nil {
				b.Fatal(err)
			}
			if err := bl.CreateTopic("t", base.TopicConfig{Durability: base.DurabilityOS}); err != nil {
				b.Fatal(err)
			}
			p, err := l.Partition("t", 0)
			if err != nil {
				b.Fatal(err)
			}
			bp, err := bl.Partition("t", 0)
			if err != nil {
				b.Fatal(err)
			}
			var branch, baseline []time.Duration
			for i := 0; b.Loop(); i++ {
				for k := range 2 {
					s := time.Now()
					if (k == 0) == (i%2 == 0) { // alternate which goes first
						if _, err := bp.Append(ctx, baseRecs, base.AppendOptions{}); err != nil {
							b.Fatal(err)
						}
						baseline = append(baseline, time.Since(s))
					} else {
						if _, err := p.Append(ctx, recs, eventlog.AppendOptions{}); err != nil {
							b.Fatal(err)
						}
						branch = append(branch, time.Since(s))
					}
				}
			}
			median := func(d []time.Duration) float64 { slices.Sort(d); return float64(d[len(d)/2]) }
			mean := func(d []time.Duration) float64 {
				var sum time.Duration
				for _, x := range d {
					sum += x
				}
				return float64(sum) / float64(len(d))
			}
			mb, mn := median(baseline), median(branch)
			b.ReportMetric(mb, "base-p50-ns")
			b.ReportMetric(mn, "branch-p50-ns")
			b.ReportMetric(mb/mn, "x-p50")
			b.ReportMetric(mean(baseline)/mean(branch), "x-mean")
		})
	}
}
EOF
cd "$work"
go mod tidy >/dev/null
go test -run '^$' -bench AppendAB "${@:--benchtime=2s}" .
