package eventlog

import (
	"bytes"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestZstdCodersLeaveSynctestBubbles: zstd coders made inside a synctest
// bubble are not pooled, so that zstd still works outside it afterwards.
// (A pooled coder of the bubble, used out here, stops the test binary.)
func TestZstdCodersLeaveSynctestBubbles(t *testing.T) {
	src := bytes.Repeat([]byte("a record, "), 1000)
	roundTrip := func(t *testing.T) {
		packed, err := compress(nil, src, CompressionZstd)
		require.NoError(t, err)
		got, err := decompress(nil, packed, CompressionZstd, len(src))
		require.NoError(t, err)
		assert.Equal(t, src, got)
	}
	for zstdEncoders.Get() != nil { // the bubble must make its own
	}
	for zstdDecoders.Get() != nil {
	}
	synctest.Test(t, func(t *testing.T) {
		assert.True(t, inSynctestBubble())
		roundTrip(t)
		roundTrip(t)
	})
	assert.False(t, inSynctestBubble())
	roundTrip(t) // with the bubble's coders pooled, the runtime would stop here
}
