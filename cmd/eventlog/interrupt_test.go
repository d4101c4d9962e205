package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Ctrl-C stops every command promptly, with exit code 130 and a short
// message, except tail -f, for which it is the normal end (see
// TestTailFollow). Each test waits for the command to be under way, sends
// it os.Interrupt and waits for it to end.
func TestInterrupt(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sends os.Interrupt")
	}
	for name, args := range map[string][]string{
		"dump":         {"dump", "big"},
		"dump batches": {"dump", "big", "--batches", "--records"},
		"tail":         {"tail", "big", "-n", "1000000"},
	} {
		t.Run(name, func(t *testing.T) {
			p := startCLI(t, bigFixture(t), args...)
			lines := p.interruptAfterFirstLine(t)
			r := p.wait(t)
			assert.Equal(t, exitInterrupted, r.code)
			assert.Equal(t, "eventlog: interrupted\n", r.stderr)
			assert.Less(t, lines, bigRecords, "it stopped before the end")
		})
	}
	t.Run("produce", func(t *testing.T) {
		dir := fixture(t)
		// A tail -f shows when produce has stored a line: it prints the
		// partition's last record first, then what is appended.
		watch := startCLI(t, dir, "tail", "orders", "-p", "1", "-n", "1", "-f", "--interval", "10ms", "--json")
		assert.Contains(t, watch.line(t), `"offset":2,`)
		p := startCLI(t, dir, "produce", "orders", "-p", "1")
		_, err := io.WriteString(p.stdin, "before\n")
		require.NoError(t, err)
		assert.Contains(t, watch.line(t), `"offset":3,"timestamp"`)
		// Standard input stays open: produce must not wait for its end.
		require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
		r := p.wait(t)
		assert.Equal(t, exitInterrupted, r.code)
		assert.Equal(t, "eventlog: interrupted: stored the 1 records read before it; the rest of the input was not read\n", r.stderr)
		assert.Empty(t, r.stdout)
		assert.FileExists(t, filepath.Join(dir, "CLEAN_SHUTDOWN"), "the log was closed")
		require.NoError(t, watch.cmd.Process.Signal(os.Interrupt))
		assert.Equal(t, exitOK, watch.wait(t).code)

		d := runCLI(t, dir, "", "dump", "orders", "-p", "1", "--offset", "3")
		require.Equal(t, exitOK, d.code, d.stderr)
		assert.Equal(t, 1, strings.Count(d.stdout, "\n"))
		assert.Contains(t, d.stdout, `value="before"`)
	})
	t.Run("repair prompt", func(t *testing.T) {
		dir := fixture(t)
		logs := segments(t, dir, "orders", 1)
		appendTo(t, logs[len(logs)-1], bytes.Repeat([]byte{0x5a}, 100))
		before := dirState(t, dir)
		p := startCLI(t, dir, "repair")
		// The question ends without a newline.
		prompt := make([]byte, 0, 256)
		for !bytes.HasSuffix(prompt, []byte("[y/N] ")) {
			b := make([]byte, 1)
			_, err := p.stderr.Read(b)
			require.NoError(t, err, "no prompt: %q", prompt)
			prompt = append(prompt, b...)
		}
		require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
		r := p.wait(t)
		assert.Equal(t, exitInterrupted, r.code)
		assert.Equal(t, "\neventlog: interrupted\n", r.stderr)
		assert.Equal(t, before, dirState(t, dir), "nothing changed")
	})
}

// TestProduceInterruptInProcess is the produce case of TestInterrupt run
// in the test's process, so that under -race the detector watches the
// goroutine that reads standard input.
func TestProduceInterruptInProcess(t *testing.T) {
	dir := fixture(t)
	c, interrupt := context.WithCancel(ctx)
	defer interrupt()
	// An io.Pipe write returns once the reader has it: when the second
	// line is read, the first has been handed on to be sent.
	pr, pw := io.Pipe()
	defer pw.Close()
	var stdout, stderr bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- run(c, []string{"--dir", dir, "produce", "orders", "-p", "1"}, pr, &stdout, &stderr) }()
	for _, line := range []string{"first\n", "second\n"} {
		_, err := io.WriteString(pw, line)
		require.NoError(t, err)
	}
	interrupt()
	require.Equal(t, exitInterrupted, <-code, stderr.String())
	assert.Empty(t, stdout.String())

	d := runCLI(t, dir, "", "dump", "orders", "-p", "1", "--offset", "3")
	require.Equal(t, exitOK, d.code, d.stderr)
	stored := strings.Count(d.stdout, "\n")
	assert.Contains(t, d.stdout, `value="first"`, "a line handed on before the interrupt is stored")
	assert.Equal(t, fmt.Sprintf("eventlog: interrupted: stored the %d records read before it; the rest of the input was not read\n", stored),
		stderr.String())
}

// bigRecords is how many records bigFixture's topic holds: many more than
// a command prints in the moment an interrupt takes to arrive.
const bigRecords = 100_000

// bigFixture makes a log whose topic big has bigRecords records of 100
// bytes in one partition.
func bigFixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := eventlog.Open(dir, &eventlog.Options{Now: func() time.Time { return fixedTime },
		RecoveryPointInterval: time.Hour, Durability: eventlog.DurabilityOS})
	require.NoError(t, err)
	require.NoError(t, l.CreateTopic("big", eventlog.TopicConfig{}))
	p := partitionOf(t, l, "big", 0)
	value := bytes.Repeat([]byte{'x'}, 100)
	batch := make([]eventlog.Record, 1000)
	for i := range batch {
		batch[i] = eventlog.Record{Value: value, Timestamp: fixedTime}
	}
	for range bigRecords / len(batch) {
		_, err := p.Append(ctx, batch, eventlog.AppendOptions{})
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return dir
}

// started is a run of the binary under way.
type started struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr io.Reader
	ctx    context.Context
}

// startCLI starts the binary with args on dir; it is killed if it runs
// for more than a minute.
func startCLI(t *testing.T, dir string, args ...string) *started {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(c, cliBinary, append([]string{"--dir", dir}, args...)...)
	cmd.Env = withoutEnv("EVENTLOG_DIR")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill() // ends a run the test gave up on; no-op after Wait
	})
	return &started{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: stderr, ctx: c}
}

// line returns the next line the command prints, without its newline.
func (p *started) line(t *testing.T) string {
	t.Helper()
	l, err := p.stdout.ReadString('\n')
	require.NoError(t, err, "the command printed no line: %q", l)
	return strings.TrimSuffix(l, "\n")
}

// interruptAfterFirstLine waits for the command's first line, interrupts
// it, and reads the rest of what it prints. It returns how many lines it
// printed.
func (p *started) interruptAfterFirstLine(t *testing.T) int {
	t.Helper()
	p.line(t)
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	rest, err := io.ReadAll(p.stdout)
	require.NoError(t, err)
	return 1 + bytes.Count(rest, []byte("\n"))
}

// wait reads what the command has still to print and waits for it to end.
// Its standard input stays open: the commands must not need its end.
func (p *started) wait(t *testing.T) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	_, err := io.Copy(&stdout, p.stdout)
	require.NoError(t, err)
	_, err = io.Copy(&stderr, p.stderr)
	require.NoError(t, err)
	err = p.cmd.Wait()
	require.NoError(t, p.ctx.Err(), "the command did not end within a minute")
	var exit *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exit)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: p.cmd.ProcessState.ExitCode()}
}
