// Command eventlog inspects and operates an eventlog directory from the
// shell, as kafka-topics, kafka-consumer-groups, kafka-dump-log and kcat do
// for Kafka: list topics and groups, dump and follow records, produce
// lines, verify every batch, reset offsets, repair and compact.
//
// Commands that only read (topics, groups, dump, tail, verify, stats, and
// reset-offsets without --execute) open the log read-only, so they work
// while another process has it open for writing. Commands that write take
// the log's lock and refuse while another process holds it.
//
// Exit codes: 0 success, 1 error, 2 usage error, 3 verify (or repair)
// found corruption, 4 the log is held by another process, 130 interrupted
// (Ctrl-C). See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventlog/eventlog"
)

// Exit codes.
const (
	exitOK      = 0
	exitError   = 1
	exitUsage   = 2
	exitCorrupt = 3 // verify or repair found corruption
	exitLocked  = 4 // a write command found the log held by another process
	// exitInterrupted is what a shell reports for a command killed by
	// SIGINT (128+2); eventlog returns it after stopping on its own.
	exitInterrupted = 130
)

// codeError is an error with the exit code it calls for.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// unprefixed is err without the "eventlog: " its message starts with,
// for the tool's errors that wrap one of the library's: run prefixes
// the whole message, so that the package is named once, at its start.
// errors.Is and errors.As see err.
func unprefixed(err error) error { return unprefixedError{err} }

type unprefixedError struct{ err error }

func (e unprefixedError) Error() string { return strings.TrimPrefix(e.err.Error(), "eventlog: ") }
func (e unprefixedError) Unwrap() error { return e.err }

// usageError is a mistake in the command line.
func usageError(format string, args ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	// The first Ctrl-C ends ctx: the command stops and closes the log. A
	// second one kills the process, for whatever does not stop promptly
	// (opening a large log, a stuck disk).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	out := &stickyWriter{w: stdout}
	a := &app{stdin: stdin, stdout: out, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(out)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil && out.err != nil {
		err = &codeError{code: exitError, err: out.err}
	}
	if err == nil {
		return exitOK
	}
	code := exitUsage // errors that cobra makes are about the command line
	var ee *codeError
	if errors.As(err, &ee) {
		code = ee.code
	}
	// The library's errors name the package once, at their start, and
	// so do the tool's wraps of them (see unprefixed); the tool's own
	// errors do not name it. Nothing else is taken out: the message
	// quotes names and paths as they were given.
	fmt.Fprintln(stderr, "eventlog: "+strings.TrimPrefix(err.Error(), "eventlog: "))
	switch {
	case code == exitUsage:
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	case code == exitError && errors.Is(err, eventlog.ErrCorrupt):
		fmt.Fprintln(stderr, "The log is damaged: 'eventlog verify' lists the damage, 'eventlog repair' cuts what Open refuses.")
	}
	return code
}

// app is what the commands share: the streams and the global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	dir            string
	json           bool
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "eventlog",
		Short: "Inspect and operate an eventlog directory",
		Long: `eventlog inspects and operates a log directory written by the eventlog
library (github.com/eventlog/eventlog).

Commands that only read open the log read-only: they work while another
process has it open for writing. Commands that write refuse while another
process holds it (exit code 4).

Exit codes: 0 success, 1 error, 2 usage error, 3 corruption found,
4 log held by another process, 130 interrupted (Ctrl-C; tail -f exits 0).`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().StringVarP(&a.dir, "dir", "d", os.Getenv("EVENTLOG_DIR"), "log directory (default $EVENTLOG_DIR)")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print data as JSON (one JSON value per line for records)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError("%v", err) })
	root.AddCommand(
		a.topicsCommand(),
		a.groupsCommand(),
		a.dumpCommand(),
		a.tailCommand(),
		a.produceCommand(),
		a.verifyCommand(),
		a.statsCommand(),
		a.resetOffsetsCommand(),
		a.repairCommand(),
		a.compactCommand(),
	)
	return root
}

// argumentError marks err as a mistake on the command line when the
// library refused an argument as such: a setting (ErrInvalidConfig) or a
// topic name (ErrInvalidTopic). For the commands whose flags and arguments
// the library checks; not for compact, whose ErrInvalidConfig (a topic
// that does not compact) is about the log, not the command line.
func argumentError(err error) error {
	if errors.Is(err, eventlog.ErrInvalidConfig) || errors.Is(err, eventlog.ErrInvalidTopic) {
		return &codeError{code: exitUsage, err: err}
	}
	return err
}

// errInterrupted ends a command that Ctrl-C stopped.
var errInterrupted = &codeError{code: exitInterrupted, err: errors.New("interrupted")}

// runE adapts a command's body: it checks that a directory was given, and
// marks the body's errors as errors rather than usage mistakes, or as the
// interruption they are when Ctrl-C ended the command's context.
func (a *app) runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if a.dir == "" {
			return usageError("no log directory: pass --dir or set EVENTLOG_DIR")
		}
		err := fn(cmd, args)
		var ee *codeError
		switch {
		case err == nil || errors.As(err, &ee):
		case errors.Is(err, context.Canceled) && cmd.Context().Err() != nil:
			err = errInterrupted
		default:
			err = &codeError{code: exitError, err: err}
		}
		return err
	}
}

// args checks the number of positional arguments.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usageError("%s needs %d argument(s), got %d", cmd.CommandPath(), min, len(args))
		case max >= 0 && len(args) > max:
			return usageError("%s takes at most %d argument(s), got %d: %q", cmd.CommandPath(), max, len(args), args)
		}
		return nil
	}
}
