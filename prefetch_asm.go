//go:build amd64 || arm64

package eventlog

// prefetch asks the CPU to start loading b's cache lines, and returns
// without waiting for them. Unlike a load, a prefetch instruction retires at
// once, so many lines can be on their way while the caller computes on
// earlier ones; it never faults, whatever the address.
//
//go:noescape
func prefetch(b []byte)
