//go:build !amd64 || purego

package eventlog

import "hash/crc32"

// canFold reports that there is no folding CRC here (see crc32c_amd64.go).
const canFold = false

// crc32cUpdate is crc32.Update(crc, castagnoli, p).
func crc32cUpdate(crc uint32, p []byte) uint32 {
	return crc32.Update(crc, castagnoli, p)
}
