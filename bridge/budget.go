package bridge

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/paybridge/paybridge"
)

// checkBudgetWait is how long a check waits for provider budget before it
// answers provider_rate_limited. Watches and webhook triggers wait longer.
const checkBudgetWait = 2 * time.Second

// budget is one merchant account's own call budget with its provider,
// shared by its checks, watches and webhook triggers (CoinbarPay documents
// 1000 calls a day per client id). A nil budget is unlimited.
type budget struct {
	what    string // the provider, and the account when not the default
	rate    Rate
	limiter *rate.Limiter
	logged  atomic.Int64 // when it was last logged as spent, Unix nanoseconds
}

// newBudget turns "N per D" into a token bucket that never allows more
// than N calls in any window D: a burst of a tenth of N, refilled at the
// remaining nine tenths over D. (With N = 1 the refill is 1/D, so two
// calls may fall in one window.) No rate is no budget: nil.
func newBudget(what string, r Rate) *budget {
	if r.N < 1 || r.Per <= 0 {
		return nil
	}
	burst := max(1, r.N/10)
	refill := max(r.N-burst, 1)
	return &budget{what: what, rate: r, limiter: rate.NewLimiter(rate.Limit(float64(refill)/r.Per.Seconds()), burst)}
}

// wait takes one call from the budget. An impatient caller (a check with
// someone waiting on the reply) gives up after checkBudgetWait; a patient
// one (a watch, a webhook trigger) waits until ctx ends, but only takes a
// call that is free now: it never reserves budget ahead of the checks
// that have someone waiting on them.
func (b *budget) wait(ctx context.Context, patient bool) error {
	if b == nil {
		return nil
	}
	if patient {
		return b.waitPolitely(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, checkBudgetWait)
	defer cancel()
	if err := b.limiter.Wait(ctx); err != nil {
		return b.spent()
	}
	return nil
}

// waitPolitely polls for a free call about once per refill, with jitter so
// that waiting watches do not wake together.
func (b *budget) waitPolitely(ctx context.Context) error {
	refill := time.Duration(float64(time.Second) / float64(b.limiter.Limit()))
	for !b.limiter.Allow() {
		t := time.NewTimer(refill/2 + rand.N(refill))
		select {
		case <-ctx.Done():
			t.Stop()
			return b.spent()
		case <-t.C:
		}
	}
	return nil
}

// logDue reports whether its being spent is to be logged now: at most
// once a minute.
func (b *budget) logDue(now time.Time) bool {
	last := b.logged.Load()
	return now.UnixNano()-last >= int64(time.Minute) && b.logged.CompareAndSwap(last, now.UnixNano())
}

func (b *budget) spent() error {
	return paybridge.Errorf(paybridge.CodeProviderRateLimited,
		"the bridge's call budget for %s (%s) is spent; retry later", b.what, b.rate)
}
