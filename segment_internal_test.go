package eventlog

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two callers that open a closed segment's file at once, neither holding
// the segment's lock while it opens, keep one handle: the caller whose
// open ends second closes its own and returns the one installed. The
// segment's last release closes that one.
func TestSegmentFileOpenedTwiceKeepsOne(t *testing.T) {
	fsys := NewMemFS()
	require.NoError(t, fsys.MkdirAll("/d", 0o755))
	s := newSegment(fsys, "/d", 0, nil)
	path := s.path(logExt)
	require.NoError(t, fsys.WriteFile(path, []byte("x"), 0o644))
	reached, resume := make(chan struct{}), make(chan struct{})
	var opens, closes atomic.Int32
	fsys.SetFault(func(op Op, name string) error {
		switch {
		case name != path:
		case op == OpOpen && opens.Add(1) == 1:
			close(reached)
			<-resume
		case op == OpClose:
			closes.Add(1)
		}
		return nil
	})

	slow := make(chan File, 1)
	go func() {
		f, err := s.file()
		assert.NoError(t, err)
		slow <- f
	}()
	<-reached
	installed, err := s.file()
	require.NoError(t, err)
	close(resume)
	assert.Same(t, installed, <-slow, "the file installed first")
	assert.Equal(t, int32(2), opens.Load())
	assert.Equal(t, int32(1), closes.Load(), "the handle opened second is closed")
	require.NoError(t, s.release())
	assert.Equal(t, int32(2), closes.Load(), "the one installed is closed by the last release")
}
