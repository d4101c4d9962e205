package kafkaserver_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The benchmarks run each broker in a process of its own, as a Kafka
// client and the broker it talks to run: in one process, the broker's
// heap and garbage would change how often the client's garbage collector
// runs, and what each op costs would depend on which broker ran before.
// The broker process is this test binary, told by brokerEnv which backend
// to start; it prints the broker's address and runs until its standard
// input closes.

// brokerEnv names the backend a broker process starts.
const brokerEnv = "KAFKASERVER_BENCH_BROKER"

func TestMain(m *testing.M) {
	if name := os.Getenv(brokerEnv); name != "" {
		os.Exit(runBroker(name))
	}
	os.Exit(m.Run())
}

// runBroker is the broker process: it starts the backend name, prints its
// address and stops it once its standard input closes.
func runBroker(name string) int {
	i := -1
	bes := fetchBackends()
	for j, be := range bes {
		if be.name == name {
			i = j
		}
	}
	if i < 0 {
		fmt.Fprintf(os.Stderr, "broker process: no backend %q\n", name)
		return 2
	}
	dir, err := os.MkdirTemp("", "kafkaserver-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker process:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	addr, stop, err := bes[i].start(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker process:", err)
		return 1
	}
	fmt.Println(addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // until the benchmark is done
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "broker process:", err)
		return 1
	}
	return 0
}

// inProcessEnv, set to 1, makes the benchmarks run the brokers in their
// own process instead, for comparison.
const inProcessEnv = "KAFKASERVER_BENCH_IN_PROCESS"

// spawn starts be in a broker process and returns its address and what
// stops it.
func (be backend) spawn(tb testing.TB) (string, func()) {
	tb.Helper()
	if os.Getenv(inProcessEnv) == "1" {
		addr, stop, err := be.start(tb.TempDir())
		require.NoError(tb, err)
		return addr, func() { require.NoError(tb, stop()) }
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), brokerEnv+"="+be.name)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(tb, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(tb, err)
	require.NoError(tb, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = stdin.Close()
		tb.Fatalf("broker process %s: %v (%v)", be.name, err, cmd.Wait())
	}
	return strings.TrimSpace(line), func() {
		require.NoError(tb, stdin.Close())
		require.NoError(tb, cmd.Wait(), "broker process %s", be.name)
	}
}
