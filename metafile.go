package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Metadata files (topic configs, the clean-shutdown marker) share one
// envelope, so that a torn or damaged file is always detected:
//
//	+--------+---------+---------+-------------+---------+
//	| "EVLM" | version | length  | payload ... | crc32c  |
//	| 4 B    | u16 BE  | u32 BE  | length B    | u32 BE  |
//	+--------+---------+---------+-------------+---------+
//
// The CRC-32C covers magic, version, length and payload. These constants are
// part of the format. A file is replaced by writing "<name>.tmp", fsyncing it,
// renaming it over the old one and fsyncing the directory.
const (
	metaMagic      = "EVLM"
	metaHeaderSize = 10
	metaMaxPayload = 1 << 20
	tempSuffix     = ".tmp"
)

// A crash between the creation of "<name>.tmp" and its rename leaves it
// behind: the next write of the file truncates and renames it, but one
// that never comes (a topic's configuration altered once, a
// log-start-offset written once) would leave it for ever. Open removes
// them, matching only the names of the files the Log replaces so, in the
// directory each is in: files of the user's, *.tmp or not, stay.

// isLogDirTempFile reports whether name, in the Log's directory, is the
// temporary copy of a file the Log replaces.
func isLogDirTempFile(name string) bool {
	return name == producerIDsName+tempSuffix || name == cleanMarkerName+tempSuffix
}

// isTopicDirTempFile is isLogDirTempFile for a topic's directory.
func isTopicDirTempFile(name string) bool { return name == topicMetaName+tempSuffix }

// isPartitionDirTempFile is isLogDirTempFile for a partition's directory.
func isPartitionDirTempFile(name string) bool {
	base, ok := strings.CutSuffix(name, tempSuffix)
	if !ok {
		return false
	}
	switch base {
	case logStartName, cleanerMetaName, recoveryPointName:
		return true
	}
	_, snapshot := parseSegmentName(base, snapshotExt)
	_, txnIndex := parseSegmentName(base, txnIndexExt)
	return snapshot || txnIndex
}

// removeTempFiles removes the files of dir among names that ours says are
// the temporary copies of interrupted writes, and returns the other names.
// The removals need no fsync of the directory: an Open after a crash
// that undid them removes the files again.
func removeTempFiles(fsys FS, logger *slog.Logger, dir string, names []string, ours func(name string) bool) ([]string, error) {
	if !slices.ContainsFunc(names, ours) {
		return names, nil
	}
	kept := make([]string, 0, len(names))
	for _, name := range names {
		if !ours(name) {
			kept = append(kept, name)
			continue
		}
		path := filepath.Join(dir, name)
		if err := fsys.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, errorf("eventlog: remove the temporary file of an interrupted write: %w", err)
		}
		logger.Info("eventlog: removed the temporary file of an interrupted write", "path", path)
	}
	return kept, nil
}

// encodeMeta wraps payload in the envelope.
func encodeMeta(version uint16, payload []byte) []byte {
	buf := make([]byte, metaHeaderSize, metaHeaderSize+len(payload)+4)
	copy(buf, metaMagic)
	binary.BigEndian.PutUint16(buf[4:], version)
	binary.BigEndian.PutUint32(buf[6:], uint32(len(payload)))
	buf = append(buf, payload...)
	return binary.BigEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// writeMetaFile atomically and durably replaces path with payload in the
// envelope. With durable false it only renames the file into place: the
// content is the OS's to persist, which suits files whose loss is harmless.
func writeMetaFile(fsys FS, path string, version uint16, payload []byte, durable bool) error {
	return replaceFile(fsys, path, encodeMeta(version, payload), durable)
}

// replaceFile atomically replaces path with data, as writeMetaFile does,
// for files in a format of their own (Kafka's producer snapshots).
func replaceFile(fsys FS, path string, data []byte, durable bool) error {
	tmp := path + tempSuffix
	if err := writeWholeFile(fsys, tmp, data, durable); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return err
	}
	if !durable {
		return nil
	}
	return fsys.SyncDir(filepath.Dir(path))
}

// writeWholeFile creates or truncates path and writes data, fsyncing it when
// durable is set.
func writeWholeFile(fsys FS, path string, data []byte, durable bool) error {
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return errors.Join(err, f.Close())
	}
	if durable {
		if err := f.Sync(); err != nil {
			return errors.Join(err, f.Close())
		}
	}
	return f.Close()
}

// readMetaFile reads and checks a file written by writeMetaFile. A damaged
// file yields a *CorruptError.
func readMetaFile(fsys FS, path string) (version uint16, payload []byte, err error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	buf, err := io.ReadAll(io.LimitReader(f, metaHeaderSize+metaMaxPayload+4+1))
	if err != nil {
		return 0, nil, err
	}
	corrupt := func(reason string) error {
		return &CorruptError{Path: path, Pos: 0, Offset: -1, Reason: reason}
	}
	if len(buf) < metaHeaderSize+4 || string(buf[:4]) != metaMagic {
		return 0, nil, corrupt("not a metadata file (bad magic or too short)")
	}
	n := binary.BigEndian.Uint32(buf[6:])
	if n > metaMaxPayload || int(n) != len(buf)-metaHeaderSize-4 {
		size := fmt.Sprint(len(buf))
		if len(buf) > metaHeaderSize+metaMaxPayload+4 {
			// Not read past the limit: its size is the file's.
			size = fmt.Sprintf("more than %d", len(buf)-1)
			if info, err := f.Stat(); err == nil {
				size = fmt.Sprint(info.Size())
			}
		}
		return 0, nil, corrupt(fmt.Sprintf("payload length %d does not match file size %s", n, size))
	}
	body := buf[:len(buf)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(buf[len(buf)-4:]) {
		return 0, nil, corrupt("checksum mismatch")
	}
	return binary.BigEndian.Uint16(buf[4:]), body[metaHeaderSize:], nil
}
