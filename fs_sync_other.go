//go:build !linux

package eventlog

import "os"

// datasync flushes f with os.File.Sync, which is fcntl(F_FULLFSYNC) on macOS
// and FlushFileBuffers on Windows.
func datasync(f *os.File) error { return f.Sync() }
