package bridge

import (
	"context"
	"math/rand/v2"
	"time"

	"golang.org/x/time/rate"

	"github.com/paybridge/paybridge"
)

// checkBudgetWait is how long a check waits for provider budget before it
// answers provider_rate_limited. Watches and webhook triggers wait longer.
const checkBudgetWait = 2 * time.Second

// budgets are the bridge's own per-provider call budgets, shared by checks,
// watches and webhook triggers (CoinbarPay documents 1000 calls a day).
type budgets map[string]*budget

type budget struct {
	provider string
	rate     Rate
	limiter  *rate.Limiter
}

// newBudgets turns "N per D" into a token bucket that never allows more
// than N calls in any window D: a burst of a tenth of N, refilled at the
// remaining nine tenths over D. (With N = 1 the refill is 1/D, so two
// calls may fall in one window.)
func newBudgets(limits map[string]Rate) budgets {
	b := make(budgets, len(limits))
	for name, r := range limits {
		if r.N < 1 || r.Per <= 0 {
			continue
		}
		burst := max(1, r.N/10)
		refill := max(r.N-burst, 1)
		b[name] = &budget{provider: name, rate: r, limiter: rate.NewLimiter(rate.Limit(float64(refill)/r.Per.Seconds()), burst)}
	}
	return b
}

// wait takes one call from provider's budget. An impatient caller (a
// check with someone waiting on the reply) gives up after checkBudgetWait;
// a patient one (a watch, a webhook trigger) waits until ctx ends, but only
// takes a call that is free now: it never reserves budget ahead of the
// checks that have someone waiting on them.
func (b budgets) wait(ctx context.Context, provider string, patient bool) error {
	bud := b[provider]
	if bud == nil {
		return nil
	}
	if patient {
		return bud.waitPolitely(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, checkBudgetWait)
	defer cancel()
	if err := bud.limiter.Wait(ctx); err != nil {
		return bud.spent()
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

func (b *budget) spent() error {
	return paybridge.Errorf(paybridge.CodeProviderRateLimited,
		"the bridge's call budget for %s (%s) is spent; retry later", b.provider, b.rate)
}
