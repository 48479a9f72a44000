package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/paybridge/paybridge"
)

// --scale measures what a restart of the bridge costs when its status
// bucket already holds many settled payments: the bridge that created the
// bucket is stopped, the bucket filled, and a new bridge started and
// followed from its first moment. The usual phases (prime, timed runs,
// burst) then run against that bridge.

// scaleResult is what --scale measured.
type scaleResult struct {
	Fill    fillResult    `json:"fill"`
	Restart restartResult `json:"restart"`
}

// restartResult is the restarted bridge's start, counted from the moment
// its process started.
type restartResult struct {
	ReadySeconds       float64 `json:"ready_s"`        // until /readyz answered 200
	FirstLookupSeconds float64 `json:"first_lookup_s"` // until a lookup was answered with the stored record
	LookupAttempts     int     `json:"lookup_attempts"`
	// LookupReply is that answer, about the payment stored last.
	LookupReply paybridge.Reply `json:"lookup_reply"`
	// Over the followed window (--scale-settle):
	WindowSeconds float64 `json:"window_s"`
	RSSPeakMiB    float64 `json:"rss_peak_mib"`
	RSSEndMiB     float64 `json:"rss_end_mib"`
	CPUSeconds    float64 `json:"cpu_s"` // user + system, at the window's end
	// CPUSettledAt is the first whole second after which the bridge used
	// less than 1% of a core for 3 s, and CPUUntilSettled the CPU time it
	// had used until then; absent when that did not happen in the window.
	CPUSettledAt    *float64 `json:"cpu_settled_at_s,omitempty"`
	CPUUntilSettled *float64 `json:"cpu_s_until_settled,omitempty"`
}

// scale stops the bridge that created the bucket, fills the bucket, and
// restarts the bridge against it.
func (b *bench) scale(ctx context.Context) (*scaleResult, error) {
	fmt.Fprintln(b.log, "paybench: stopping the bridge that created the bucket")
	if err := b.world.stopBridge(ctx); err != nil {
		return nil, fmt.Errorf("stopping the first bridge: %w", err)
	}
	fill, set, err := fillBucket(ctx, b.nc, b.o.bucket, b.o.providers, b.o.scale, b.log)
	if err != nil {
		return nil, err
	}
	restart, err := b.restart(ctx, set)
	if err != nil {
		return nil, err
	}
	return &scaleResult{Fill: *fill, Restart: *restart}, nil
}

// restart starts the bridge again and follows it over --scale-settle:
// readiness, the first lookup of a stored payment, RSS and CPU.
func (b *bench) restart(ctx context.Context, set scaleSet) (*restartResult, error) {
	fmt.Fprintf(b.log, "paybench: restarting paybridge serve against %d stored payments, following it for %s\n", set.n, b.o.scaleSettle)
	s, err := spawnBridge(ctx, b.o, b.world, b.log)
	if err != nil {
		return nil, err
	}
	b.world.bridge = s
	// The payment stored last: the last one a replay of the bucket reaches.
	_, probe := set.record(set.n)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready time.Duration
	var lookup firstLookup
	var readyErr, lookupErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		if readyErr = s.waitReady(ctx, readyWithin); readyErr != nil {
			cancel()
		}
		ready = time.Since(s.started)
	})
	wg.Go(func() {
		lookup, lookupErr = awaitLookup(ctx, b.nc, probe, s.started, max(readyWithin, b.o.scaleSettle))
	})
	trace, traceErr := traceProcess(ctx, s, b.o.scaleSettle)
	if traceErr != nil {
		cancel()
	}
	wg.Wait()
	// A bridge that failed fails the lookup too: report the cause.
	if err := errors.Join(traceErr, readyErr); err != nil {
		return nil, err
	}
	if lookupErr != nil {
		return nil, lookupErr
	}

	end := trace[len(trace)-1]
	r := &restartResult{
		ReadySeconds:       ready.Seconds(),
		FirstLookupSeconds: lookup.after.Seconds(),
		LookupAttempts:     lookup.attempts,
		LookupReply:        lookup.reply,
		WindowSeconds:      end.at.Seconds(),
		RSSPeakMiB:         mib(peakRSS(trace)),
		RSSEndMiB:          mib(end.rss),
		CPUSeconds:         end.cpu.Seconds(),
	}
	if at, cpu, ok := settlePoint(trace); ok {
		settledAt, until := at.Seconds(), cpu.Seconds()
		r.CPUSettledAt, r.CPUUntilSettled = &settledAt, &until
	}
	fmt.Fprintf(b.log, "paybench: ready after %s, first lookup answered after %s\n",
		ready.Round(time.Millisecond), lookup.after.Round(time.Millisecond))
	b.followBridge(end.rss)
	return r, nil
}
