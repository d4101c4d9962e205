//go:build !amd64 && !arm64

package eventlog

// prefetch does nothing where eventlog has no assembly for it.
func prefetch([]byte) {}
