package main

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// burst sends o.burst checks of one payment at the same moment and counts
// the provider calls they cost: concurrent checks of one payment should
// share one call.
func (b *bench) burst(ctx context.Context) (*burstResult, error) {
	p := b.pool.first()
	fmt.Fprintf(b.log, "paybench: burst of %d concurrent checks of %s\n", b.o.burst, p.id)
	calls := b.paymentCalls(ctx, p)
	do := bridgeCheck(b.nc, b.o.checkSubject)
	gate := make(chan struct{})
	rec := &recorder{}
	var wg sync.WaitGroup
	for range b.o.burst {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
			defer cancel()
			<-gate
			start := time.Now()
			out := do(ctx, p)
			rec.add(sample{latency: time.Since(start), outcome: out})
		})
	}
	close(gate)
	wg.Wait()
	var run runResult
	run.summarise(rec.samples, 0)
	res := &burstResult{PaymentID: p.id, Checks: run.Checks, Latency: run.Latency, Errors: run.Errors}
	if before, after := calls, b.paymentCalls(ctx, p); before >= 0 && after >= 0 {
		n := after - before
		res.ProviderCalls = &n
	}
	return res, nil
}

// paymentCalls is how many provider calls named p so far: paysim's own
// count for the payment, or the bridge's /metrics total; -1 when unknown.
func (b *bench) paymentCalls(ctx context.Context, p *payment) int64 {
	switch {
	case b.world != nil:
		return int64(b.world.sim.Fake(p.provider).Calls(p.id))
	case b.o.metricsURL != "":
		n, err := scrapeProviderCalls(ctx, b.o.metricsURL)
		if err == nil {
			return n
		}
		fmt.Fprintf(b.log, "paybench: %v\n", err)
	}
	return -1
}
