package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dump --batches --records prints the record of a control batch as
// kafka-dump-log --print-data-log does: the transaction marker it is,
// COMMIT or ABORT, with its coordinator epoch.
func TestDumpBatchesTransactionMarkers(t *testing.T) {
	dir := txnFixture(t)
	args := []string{"dump", "t", "--batches", "--records"}
	r := runCLI(t, dir, "", args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "dump-batches-txn", dir, args, r)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	var markers []string
	for i, line := range lines {
		if strings.Contains(line, "isControl: true") {
			require.Less(t, i+1, len(lines), "a line follows the control batch's header")
			markers = append(markers, lines[i+1])
		}
	}
	require.Len(t, markers, 3)
	for i, want := range []string{"COMMIT", "ABORT", "COMMIT"} {
		assert.Regexp(t, `^\| offset: `+[]string{"1", "3", "5"}[i]+` CreateTime: 1704164645000 keySize: 4 valueSize: 6 headerKeys: \[\] endTxnMarker: `+want+` coordinatorEpoch: \d+$`, markers[i])
	}

	args = []string{"dump", "t", "--batches", "--records", "--json"}
	r = runCLI(t, dir, "", args...)
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "dump-batches-txn-json", dir, args, r)
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		var b struct {
			Control bool `json:"control"`
			Marker  *struct {
				Offset int64  `json:"offset"`
				Type   string `json:"type"`
			} `json:"marker"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &b))
		if b.Control {
			require.NotNil(t, b.Marker, line)
			got = append(got, b.Marker.Type)
		} else {
			assert.Nil(t, b.Marker, line)
		}
	}
	assert.Equal(t, []string{"COMMIT", "ABORT", "COMMIT"}, got)
}
