package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

func (a *app) repairCommand() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Open the log with Options.Repair, after confirmation, and verify it again",
		Long: `Verify the log, and if anything is wrong, open it for writing with the
library's Options.Repair, after asking for confirmation (--yes skips it):

  - torn tails of active segments are cut, as any Open does;
  - damage before an active segment's recovery point, which Open refuses,
    is cut after the bytes from there on are copied to
    "<segment>.log.broken-<unix nanoseconds>" beside the segment;
  - a damaged compaction checkpoint is ignored.

Damage in closed segments is not cut: Open never reads them, and reads keep
failing on it. Damage that Open refuses even with Options.Repair (a
topic's topic.meta) ends the command with exit code 3. The log is verified again afterwards; the exit code is 3 if
corruption remains. Repair needs the log's lock: stop the process that has
the log open first (while another process holds it, repair says so before
asking, with exit code 4).`,
		Args: args(0, 0),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) (err error) {
			before, err := a.verify(cmd.Context())
			if err != nil {
				return err
			}
			out := jsonRepair{Before: jsonProblems(before.Problems), After: []jsonProblem{}, Copies: []string{}}
			if len(before.Problems) == 0 {
				if a.json {
					return printJSON(a.stdout, out)
				}
				fmt.Fprintln(a.stdout, "nothing to repair: the log has no problems")
				return nil
			}
			if !a.json {
				for _, p := range before.Problems {
					fmt.Fprintln(a.stdout, p)
				}
			}
			if !yes {
				if err := a.checkNotHeld(); err != nil {
					return err
				}
				ok, err := a.confirm(cmd.Context(), fmt.Sprintf("Repair the log in %s, cutting what is damaged (copies are kept)?", a.dir))
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("repair not confirmed: nothing changed")
				}
			}
			l, err := a.openWritable(false, &eventlog.Options{Repair: true})
			if errors.Is(err, eventlog.ErrCorrupt) {
				// Not exit code 1, whose advice is to run repair.
				return &codeError{code: exitCorrupt, err: fmt.Errorf("repair cannot cut this damage, which Open refuses even with Options.Repair: %w", unprefixed(err))}
			}
			if err != nil {
				return err
			}
			rs := l.Recovery()
			if err := l.Close(); err != nil {
				return err
			}
			after, err := a.verify(cmd.Context())
			if err != nil {
				return err
			}
			out.Repaired, out.BytesCut, out.After = true, rs.BytesTruncated, jsonProblems(after.Problems)
			out.Copies = append(out.Copies, rs.Repaired...)
			out.LostSegments = rs.LostSegments
			if a.json {
				err = printJSON(a.stdout, out)
			} else {
				fmt.Fprintf(a.stdout, "repaired: cut %d bytes\n", rs.BytesTruncated)
				for _, c := range rs.Repaired {
					fmt.Fprintf(a.stdout, "kept a copy of what was cut: %s\n", c)
				}
				for _, lost := range rs.LostSegments {
					fmt.Fprintf(a.stdout, "segment files missing, their records lost: %s\n", lost)
				}
				printReport(a.stdout, after)
			}
			if err == nil && after.Corrupt() {
				err = &codeError{code: exitCorrupt, err: fmt.Errorf("the log in %s is still corrupt: repair cuts damage in active segments only", a.dir)}
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "repair without asking")
	return cmd
}

// jsonRepair is what repair prints in JSON.
type jsonRepair struct {
	Before   []jsonProblem `json:"problems_before"`
	Repaired bool          `json:"repaired"`
	BytesCut int64         `json:"bytes_cut"`
	Copies   []string      `json:"copies"`
	// LostSegments: partitions restarted past missing segment files.
	LostSegments []string      `json:"lost_segments,omitempty"`
	After        []jsonProblem `json:"problems_after"`
}

// confirm asks question on stderr and reads the answer from stdin: true for
// y or yes. Ctrl-C (the end of ctx) stops the wait with ctx's error.
func (a *app) confirm(ctx context.Context, question string) (bool, error) {
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	// A read of standard input cannot be interrupted: on Ctrl-C the
	// command goes on without the goroutine, which ends with the process.
	answer := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(a.stdin).ReadString('\n')
		answer <- s
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stderr)
		return false, ctx.Err()
	case s := <-answer:
		fmt.Fprintln(a.stderr)
		s = strings.ToLower(strings.TrimSpace(s))
		return s == "y" || s == "yes", nil
	}
}
