package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProgressLine(t *testing.T) {
	var out bytes.Buffer
	start := time.Unix(1000, 0)
	now := start
	p := &progress{w: &out, label: "verify", unit: "B", total: 4 << 20, now: func() time.Time { return now }, start: start}
	now = start.Add(time.Second)
	p.update(1 << 20)
	assert.Equal(t, "\r\033[Kverify  25% 1.0 MiB / 4.0 MiB, 1.0 MiB/s", out.String())
	out.Reset()
	now = now.Add(50 * time.Millisecond)
	p.update(2 << 20)
	assert.Empty(t, out.String(), "redrawn at most ten times a second")
	now = now.Add(time.Second)
	p.update(4 << 20)
	assert.Contains(t, out.String(), "100% 4.0 MiB / 4.0 MiB")
	out.Reset()
	p.done()
	assert.Equal(t, "\r\033[K", out.String(), "the line is cleared at the end")

	records := &progress{w: &out, label: "dump", unit: "records", now: func() time.Time { return now }, start: now}
	out.Reset()
	records.update(42)
	assert.Equal(t, "\r\033[Kdump 42 records", out.String(), "no total, no percentage; no time, no rate")

	var none *progress // what newProgress returns off a terminal
	none.update(1)
	none.done()
}

func TestProgressOnlyOnATerminal(t *testing.T) {
	var buf bytes.Buffer
	a := &app{stdout: &buf, stderr: &buf}
	assert.Nil(t, a.newProgress("verify", "B", 1, false), "stderr is not a terminal")
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	defer f.Close()
	a.stderr = f
	assert.Nil(t, a.newProgress("verify", "B", 1, false), "a file is not a terminal")
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		assert.Equal(t, want, formatBytes(n))
	}
}
