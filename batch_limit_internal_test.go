package eventlog

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestReadDecompressLimitCoversEveryAppend: whatever MaxBatchBytes a batch
// was appended under and whatever it is when the batch is read, the read
// decompresses at least as much as the append accepted.
func TestReadDecompressLimitCoversEveryAppend(t *testing.T) {
	sizes := []int{batchHeaderSize + 16, 1 << 10, DefaultMaxBatchBytes, 1 << 24, 1<<24 + 1, 1 << 28, math.MaxInt32 / 2}
	for _, written := range sizes {
		for _, read := range sizes {
			assert.LessOrEqual(t, maxAppendDecompressedBytes(written), maxReadDecompressedBytes(read), "appended under %d, read under %d", written, read)
		}
		assert.Positive(t, maxReadDecompressedBytes(written))
	}
	assert.Equal(t, 64*DefaultMaxBatchBytes, maxAppendDecompressedBytes(DefaultMaxBatchBytes), "the default is unchanged")
}
