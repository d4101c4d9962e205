package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A topic named twice is described once, as kafka-topics does.
func TestTopicsDescribeRepeatedName(t *testing.T) {
	dir := fixture(t)
	for _, format := range [][]string{nil, {"--json"}} {
		once := runCLI(t, dir, "", append([]string{"topics", "describe", "orders"}, format...)...)
		require.Equal(t, exitOK, once.code, once.stderr)
		twice := runCLI(t, dir, "", append([]string{"topics", "describe", "orders", "users", "orders"}, format...)...)
		both := runCLI(t, dir, "", append([]string{"topics", "describe", "orders", "users"}, format...)...)
		assert.Equal(t, both, twice, "format %v", format)
	}
}

// A group named twice is described once.
func TestGroupsDescribeRepeatedName(t *testing.T) {
	dir := fixture(t)
	for _, format := range [][]string{nil, {"--json"}} {
		once := runCLI(t, dir, "", append([]string{"groups", "describe", "billing"}, format...)...)
		require.Equal(t, exitOK, once.code, once.stderr)
		twice := runCLI(t, dir, "", append([]string{"groups", "describe", "billing", "billing"}, format...)...)
		assert.Equal(t, once, twice, "format %v", format)
	}
}
