package kafkabridge

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// progress is what a Mirror stores of a partition's progress, in the
// metadata of its commit to the local group:
//
//	<remote topic>@<remote offset> <local offset>[ <remote topic ID>]
//
// the remote topic, the remote offset after the last record mirrored, the
// local offset after it, which is also the commit's offset, and the remote
// topic's ID (32 hex digits) where the cluster tells it (Kafka 2.8 on).
// The local offset is repeated so that a commit lowered at Open — eventlog
// lowers a committed offset past the log end, after a power loss took
// records of a DurabilityOS topic — shows how many mirrored records were
// lost. The ID tells a remote topic deleted and created again under its
// name from the one mirrored, whatever its offsets. Progress without an
// ID, as earlier versions stored it, is read as progress in the topic of
// that name.
type progress struct {
	remote     string
	remoteNext int64
	localNext  int64
	topicID    [16]byte // zero if unknown
}

func (p progress) String() string {
	s := p.remote + "@" + strconv.FormatInt(p.remoteNext, 10) + " " + strconv.FormatInt(p.localNext, 10)
	if p.topicID != ([16]byte{}) {
		s += " " + hex.EncodeToString(p.topicID[:])
	}
	return s
}

func parseProgress(s string) (progress, error) {
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return progress{}, fmt.Errorf("no '@'")
	}
	fields := strings.Split(s[i+1:], " ")
	if len(fields) < 2 || len(fields) > 3 {
		return progress{}, fmt.Errorf("not a remote offset, a local offset and maybe a topic ID")
	}
	p := progress{remote: s[:i]}
	var err error
	if p.remoteNext, err = strconv.ParseInt(fields[0], 10, 64); err != nil || p.remoteNext < 0 {
		return progress{}, fmt.Errorf("bad remote offset %q", fields[0])
	}
	if p.localNext, err = strconv.ParseInt(fields[1], 10, 64); err != nil || p.localNext < 0 {
		return progress{}, fmt.Errorf("bad local offset %q", fields[1])
	}
	if len(fields) == 3 {
		if n, err := hex.Decode(p.topicID[:], []byte(fields[2])); err != nil || n != len(p.topicID) || len(fields[2]) != 2*len(p.topicID) {
			return progress{}, fmt.Errorf("bad topic ID %q", fields[2])
		}
	}
	return p, nil
}

// parseProgressMetadata is parseProgress for the tests.
func parseProgressMetadata(s string) (remote string, remoteNext, localNext int64, err error) {
	p, err := parseProgress(s)
	return p.remote, p.remoteNext, p.localNext, err
}
