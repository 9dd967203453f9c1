package invoke

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

func reason(t *testing.T, err error) string {
	t.Helper()
	var kerr *kumo.Error
	require.True(t, errors.As(err, &kerr), "%v", err)
	require.ErrorIs(t, err, kumo.ErrTooManyRequests)
	return kerr.Reason
}

func TestLimiterPools(t *testing.T) {
	t.Parallel()
	l := newLimiter(5)
	one, zero := 1, 0
	reserved := &kumo.Function{Name: "r", ReservedConcurrency: &one}
	blocked := &kumo.Function{Name: "z", ReservedConcurrency: &zero}
	shared := &kumo.Function{Name: "s"}
	other := &kumo.Function{Name: "o"}

	_, err := l.acquire(blocked)
	assert.Equal(t, "ReservedFunctionConcurrentInvocationLimitExceeded", reason(t, err), "reserved 0 throttles everything")

	relR, err := l.acquire(reserved)
	require.NoError(t, err)
	_, err = l.acquire(reserved)
	assert.Equal(t, "ReservedFunctionConcurrentInvocationLimitExceeded", reason(t, err))

	// 5 - 1 - 0 reserved leaves 4 for everyone else, whichever function.
	var rels []func()
	for i := range 4 {
		fn := shared
		if i%2 == 1 {
			fn = other
		}
		rel, err := l.acquire(fn)
		require.NoError(t, err)
		rels = append(rels, rel)
	}
	_, err = l.acquire(shared)
	assert.Equal(t, "ConcurrentInvocationLimitExceeded", reason(t, err))
	assert.Equal(t, 5, l.running())

	// Releasing twice frees one slot only.
	rels[0]()
	rels[0]()
	rel, err := l.acquire(other)
	require.NoError(t, err)
	_, err = l.acquire(other)
	require.Error(t, err)
	rel()
	for _, r := range rels[1:] {
		r()
	}
	relR()
	assert.Equal(t, 0, l.running())

	// A reservation removed returns the function to the shared pool.
	l.reserve("r", nil)
	l.reserve("z", nil)
	for range 5 {
		_, err := l.acquire(&kumo.Function{Name: "r"})
		require.NoError(t, err)
	}
	_, err = l.acquire(shared)
	assert.Equal(t, "ConcurrentInvocationLimitExceeded", reason(t, err))
}
