package invoke

import (
	"sync"

	"github.com/kumo-dev/kumo/runtime/kumo"
)

// limiter counts running invocations exactly: a function with reserved
// concurrency has a pool of its own; every other function shares what the
// reservations leave of the account's limit.
type limiter struct {
	mu       sync.Mutex
	account  int
	reserved map[string]int // reservation per function, as last seen
	// reservedTotal is the sum of reserved, kept so an unreserved
	// invocation does not walk every reservation.
	reservedTotal int
	inUse         map[string]int // running invocations of reserved functions
	unreserved    int            // running invocations of the others
}

func newLimiter(account int) *limiter {
	return &limiter{account: account, reserved: map[string]int{}, inUse: map[string]int{}}
}

// reserve records a function's reservation (nil: none).
func (l *limiter) reserve(name string, n *int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.setReserved(name, n)
}

// setReserved must be called with mu held.
func (l *limiter) setReserved(name string, n *int) {
	l.reservedTotal -= l.reserved[name]
	if n == nil {
		delete(l.reserved, name)
		return
	}
	l.reserved[name] = *n
	l.reservedTotal += *n
}

// acquire takes a slot for an invocation of fn ($LATEST's record, which
// carries the reservation) or returns Lambda's throttle error.
func (l *limiter) acquire(fn *kumo.Function) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fn.ReservedConcurrency != nil {
		l.setReserved(fn.Name, fn.ReservedConcurrency)
	}
	if limit, ok := l.reserved[fn.Name]; ok {
		if l.inUse[fn.Name] >= limit {
			return nil, &kumo.Error{Kind: kumo.ErrTooManyRequests, Message: "Rate Exceeded.", Reason: "ReservedFunctionConcurrentInvocationLimitExceeded"}
		}
		l.inUse[fn.Name]++
		name := fn.Name
		return l.once(func() {
			l.inUse[name]--
			if l.inUse[name] == 0 {
				delete(l.inUse, name)
			}
		}), nil
	}
	if l.unreserved >= l.account-l.reservedTotal {
		return nil, &kumo.Error{Kind: kumo.ErrTooManyRequests, Message: "Rate Exceeded.", Reason: "ConcurrentInvocationLimitExceeded"}
	}
	l.unreserved++
	return l.once(func() { l.unreserved-- }), nil
}

// once wraps a release so calling it twice cannot free a slot twice.
func (l *limiter) once(f func()) func() {
	var o sync.Once
	return func() {
		o.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			f()
		})
	}
}

// running reports the invocations in flight, for tests and metrics.
func (l *limiter) running() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.unreserved
	for _, c := range l.inUse {
		n += c
	}
	return n
}
