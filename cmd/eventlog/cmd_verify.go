package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) verifyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "Check every batch's CRC, the offsets and the indexes; exit code 3 on corruption",
		Long: `Check the whole log without opening it for writing: every topic's metadata,
every batch of every segment (it parses, its CRC-32C matches, its offsets
follow), the active segments against their recovery points, and every
index entry and .txnindex file of the closed segments. Each problem prints
with its file and byte position:

  corrupt    damage no crash explains; reads or Open fail on it (exit code 3);
             after a clean shutdown, any damage in an active segment
  torn-tail  the incomplete end of an active segment that a crash left, or
             that a writer is writing now; the next Open for writing cuts it
  index      an index or checkpoint that does not match the log; readers
             check it and go by the log, but for a .txnindex that lacks an
             abort or lists one too many: delete it, and the next Open for
             writing rebuilds it

It works while another process has the log open.`,
		Args: args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			report, err := a.verify(cmd.Context())
			if err != nil {
				return err
			}
			if a.json {
				err = printJSON(a.stdout, jsonReport(report))
			} else {
				printReport(a.stdout, report)
			}
			if err == nil && report.Corrupt() {
				err = &codeError{code: exitCorrupt, err: fmt.Errorf("the log in %s is corrupt", a.dir)}
			}
			return err
		}),
	}
}

// verify runs eventlog.Verify with a progress line.
func (a *app) verify(ctx context.Context) (*eventlog.VerifyReport, error) {
	var bar *progress // nil, drawing nothing, unless stderr is a terminal
	started := false
	report, err := eventlog.Verify(ctx, a.dir, &eventlog.VerifyOptions{Progress: func(done, total int64) {
		if !started {
			started, bar = true, a.newProgress("verify", "B", total, false)
		}
		bar.update(done)
	}})
	bar.done()
	return report, err
}

// printReport prints the problems and a summary.
func printReport(w io.Writer, r *eventlog.VerifyReport) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	fmt.Fprintf(w, "checked %d topics, %d partitions, %d segments, %d batches, %d records, %d bytes: %s\n",
		r.Topics, r.Partitions, r.Segments, r.Batches, r.Records, r.Bytes, summary(r))
}

func summary(r *eventlog.VerifyReport) string {
	counts := map[eventlog.ProblemKind]int{}
	for _, p := range r.Problems {
		counts[p.Kind]++
	}
	if len(r.Problems) == 0 {
		return "no problems"
	}
	s := ""
	for _, k := range []eventlog.ProblemKind{eventlog.ProblemCorrupt, eventlog.ProblemTornTail, eventlog.ProblemIndex} {
		if counts[k] > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%d %s", counts[k], k)
		}
	}
	return s
}

// jsonVerify is a verify report in JSON.
type jsonVerify struct {
	Topics     int           `json:"topics"`
	Partitions int           `json:"partitions"`
	Segments   int           `json:"segments"`
	Batches    int64         `json:"batches"`
	Records    int64         `json:"records"`
	Bytes      int64         `json:"bytes"`
	Corrupt    bool          `json:"corrupt"`
	Problems   []jsonProblem `json:"problems"`
}

type jsonProblem struct {
	Kind     string `json:"kind"`
	Path     string `json:"path"`
	Position int64  `json:"position"`
	Offset   int64  `json:"offset"`
	Reason   string `json:"reason"`
}

func jsonReport(r *eventlog.VerifyReport) jsonVerify {
	return jsonVerify{Topics: r.Topics, Partitions: r.Partitions, Segments: r.Segments, Batches: r.Batches,
		Records: r.Records, Bytes: r.Bytes, Corrupt: r.Corrupt(), Problems: jsonProblems(r.Problems)}
}

func jsonProblems(ps []eventlog.Problem) []jsonProblem {
	out := []jsonProblem{}
	for _, p := range ps {
		out = append(out, jsonProblem{Kind: p.Kind.String(), Path: p.Path, Position: p.Pos, Offset: p.Offset, Reason: p.Reason})
	}
	return out
}
