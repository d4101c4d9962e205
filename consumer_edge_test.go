package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventlog/eventlog"
)

// Edge cases of the Consumer and its typed wrapper: bad options, panics,
// calls on partitions and handles that are gone.

// A nil pointer to one of the library's assignors satisfies Assignor, but
// its methods dereference it: NewConsumer and JoinGroupExternal refuse it
// with an error rather than panic.
func TestNilPointerAssignorIsAnError(t *testing.T) {
	l := consumerLog(t, 1, nil)
	for _, a := range []eventlog.Assignor{
		(*eventlog.RangeAssignor)(nil),
		(*eventlog.RoundRobinAssignor)(nil),
		(*eventlog.StickyAssignor)(nil),
		(*eventlog.CooperativeStickyAssignor)(nil),
	} {
		var err error
		require.NotPanics(t, func() {
			_, err = l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: a})
		}, "%T", a)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%T", a)
		assert.ErrorContains(t, err, "nil", "%T", a)
		require.NotPanics(t, func() {
			_, err = l.JoinGroupExternal("g", eventlog.ExternalMemberConfig{Topics: []string{"t"}, Assignors: []eventlog.Assignor{a}})
		}, "%T", a)
		assert.ErrorIs(t, err, eventlog.ErrInvalidConfig, "%T", a)
	}
	// A pointer that is not nil works as the value does.
	c, err := l.NewConsumer(&eventlog.ConsumerOptions{GroupID: "g", Assignor: &eventlog.StickyAssignor{}})
	require.NoError(t, err)
	require.NoError(t, c.Close())
}
