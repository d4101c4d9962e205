//go:build !unix && !windows

package eventlog

import "os"

// lockFile does nothing on systems without a file lock that eventlog knows;
// OSFS.Lock still refuses a second lock from the same process.
func lockFile(*os.File) error { return nil }

// unlockFile does nothing, like lockFile.
func unlockFile(*os.File) error { return nil }
