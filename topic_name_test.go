package eventlog_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// An error about a topic name longer than a topic name can be quotes its
// first 64 bytes, cut between characters, and says how long it is, rather
// than the whole of it: a name is input, and a megabyte of it must not
// make a megabyte of message. Names up to MaxTopicNameLength are quoted
// whole.
func TestErrorsQuoteLongTopicNamesShort(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	long := strings.Repeat("x", 10000)
	wide := "a" + strings.Repeat("é", 200) // 2 bytes each: byte 64 is the middle of one
	for _, c := range []struct {
		name   string
		err    func(name string) error
		target error
		quoted string
	}{
		{long, func(n string) error { return l.ValidateCreateTopic(n, eventlog.TopicConfig{}) }, eventlog.ErrInvalidTopic,
			`"` + strings.Repeat("x", 64) + `"…(10000 bytes)`},
		{long + "/", func(n string) error { return l.CreateTopic(n, eventlog.TopicConfig{}) }, eventlog.ErrInvalidTopic,
			`"` + strings.Repeat("x", 64) + `"…(10001 bytes)`},
		{wide, func(n string) error { return l.ValidateCreateTopic(n, eventlog.TopicConfig{}) }, eventlog.ErrInvalidTopic,
			`"a` + strings.Repeat("é", 31) + `"…(401 bytes)`},
		{long, func(n string) error { return l.DeleteTopic(ctx, n) }, eventlog.ErrInvalidTopic,
			`"` + strings.Repeat("x", 64) + `"…(10000 bytes)`},
		{long, func(n string) error { _, err := l.Partition(n, 0); return err }, eventlog.ErrTopicNotFound,
			`"` + strings.Repeat("x", 64) + `"…(10000 bytes)`},
	} {
		err := c.err(c.name)
		require.ErrorIs(t, err, c.target)
		msg := err.Error()
		assert.Contains(t, msg, c.quoted)
		assert.Less(t, len(msg), 250, msg)
		assert.True(t, utf8.ValidString(msg), msg)
	}

	// A name that may be a topic's is quoted whole.
	name := strings.Repeat("z", eventlog.MaxTopicNameLength-1) + " "
	err := l.ValidateCreateTopic(name, eventlog.TopicConfig{})
	require.ErrorIs(t, err, eventlog.ErrInvalidTopic)
	assert.Contains(t, err.Error(), `"`+name+`"`)
}
