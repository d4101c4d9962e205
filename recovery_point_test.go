package eventlog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecoveryPointGolden pins the format of recovery.meta, envelope
// included (regenerate with go test -run Golden -update).
func TestRecoveryPointGolden(t *testing.T) {
	rp := recoveryPoint{base: 1 << 33, pos: 123456, offset: 1<<33 + 789}
	file := encodeMeta(recoveryPointVersion, encodeRecoveryPoint(rp))
	want := golden(t, "meta/recovery_point", file)
	assert.Equal(t, want, file)

	fsys := NewMemFS()
	require.NoError(t, fsys.WriteFile("recovery.meta", want, 0o644))
	version, payload, err := readMetaFile(fsys, "recovery.meta")
	require.NoError(t, err)
	got, err := decodeRecoveryPoint("recovery.meta", version, payload)
	require.NoError(t, err)
	assert.Equal(t, rp, got)

	for name, bad := range map[string][]byte{
		"short":             payload[:16],
		"negative base":     encodeRecoveryPoint(recoveryPoint{base: -1, pos: 1, offset: 1}),
		"offset too low":    encodeRecoveryPoint(recoveryPoint{base: 10, pos: 1, offset: 9}),
		"negative position": encodeRecoveryPoint(recoveryPoint{base: 0, pos: -5, offset: 0}),
	} {
		_, err := decodeRecoveryPoint("recovery.meta", recoveryPointVersion, bad)
		assert.ErrorIs(t, err, ErrCorrupt, name)
	}
	_, err = decodeRecoveryPoint("recovery.meta", recoveryPointVersion+1, payload)
	assert.ErrorIs(t, err, ErrCorrupt, "unknown version")
}
