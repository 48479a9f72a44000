package bridge

import (
	"sync"
	"time"

	"github.com/paybridge/paybridge"
)

// breaker is a provider's circuit: after threshold calls in a row fail as
// unavailable or timed out, calls are refused for a cooldown (answered
// provider_unavailable without asking), then one probe call decides
// whether to close it again or open it for another cooldown. A provider
// that is down is then not hammered by every check and watch, and callers
// hear so at once instead of after every retry.
type breaker struct {
	threshold int
	cooldown  time.Duration

	mu        sync.Mutex
	failures  int       // consecutive failed calls
	openUntil time.Time // refusing calls until then
	probing   bool      // a probe call is under way
}

func newBreaker(threshold int, cooldown time.Duration) *breaker {
	return &breaker{threshold: threshold, cooldown: cooldown}
}

// refusing reports, without taking the probe, whether the circuit would
// refuse a call now: callers check it before they spend budget on a call.
func (b *breaker) refusing(provider string, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.refusal(provider, now)
}

// allow reports whether a call may go to the provider now, and whether it
// is the one probe of a circuit that was open; when it may not go, the
// error says why.
func (b *breaker) allow(provider string, now time.Time) (probe bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.refusal(provider, now); err != nil {
		return false, err
	}
	if b.failures < b.threshold {
		return false, nil
	}
	b.probing = true
	return true, nil
}

func (b *breaker) refusal(provider string, now time.Time) error {
	switch {
	case b.failures < b.threshold:
		return nil
	case now.Before(b.openUntil):
		return paybridge.Errorf(paybridge.CodeProviderUnavailable,
			"%s failed %d calls in a row; not asked again for %s", provider, b.failures, b.openUntil.Sub(now).Round(time.Millisecond))
	case b.probing:
		return paybridge.Errorf(paybridge.CodeProviderUnavailable,
			"%s failed %d calls in a row; a probe call is under way", provider, b.failures)
	}
	return nil
}

// isOpen reports whether the circuit is open now (refusing, or probing).
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures >= b.threshold
}

// record counts the outcome of a call that allow let through, and reports
// whether the circuit is open afterwards.
func (b *breaker) record(probe bool, err error, now time.Time) (open bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	switch paybridge.ErrorCode(err) {
	case paybridge.CodeInternal:
		// Our own fault (a provider client's bug): it says nothing of
		// the provider.
	case paybridge.CodeProviderUnavailable, paybridge.CodeProviderTimeout:
		b.failures++
		if b.failures >= b.threshold {
			b.openUntil = now.Add(b.cooldown)
		}
	default:
		// An answer, even a refusal, shows the provider is up.
		b.failures = 0
	}
	return b.failures >= b.threshold
}
