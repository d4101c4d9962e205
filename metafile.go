package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
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
)

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
	tmp := path + ".tmp"
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
