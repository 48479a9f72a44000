package bridge

import (
	"testing"
	"time"

	"github.com/paybridge/paybridge"
)

func TestBreakerOpensAfterFailuresInARowAndProbes(t *testing.T) {
	b := newBreaker(3, time.Second)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := paybridge.Errorf(paybridge.CodeProviderUnavailable, "503")
	for i := range 3 {
		if _, err := b.allow("p", now); err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
		b.record(false, down, now)
	}
	_, err := b.allow("p", now.Add(500*time.Millisecond))
	if paybridge.ErrorCode(err) != paybridge.CodeProviderUnavailable || b.refusing("p", now) == nil {
		t.Fatalf("open circuit let a call through: %v", err)
	}
	// After the cooldown one probe goes, and only one: a call that was let
	// through before the circuit opened and ends now does not free a
	// second one.
	later := now.Add(2 * time.Second)
	if b.refusing("p", later) != nil {
		t.Fatal("refusing after the cooldown")
	}
	if probe, err := b.allow("p", later); err != nil || !probe {
		t.Fatalf("probe refused: %v", err)
	}
	b.record(false, down, later)
	if _, err := b.allow("p", later); err == nil {
		t.Fatal("a second call went while the probe was under way")
	}
	// A failed probe opens it again; a good one closes it.
	if !b.record(true, down, later) {
		t.Fatal("failed probe closed the circuit")
	}
	if _, err := b.allow("p", later.Add(time.Millisecond)); err == nil {
		t.Fatal("circuit not open again after a failed probe")
	}
	next := later.Add(2 * time.Second)
	if probe, err := b.allow("p", next); err != nil || !probe {
		t.Fatalf("second probe refused: %v", err)
	}
	if b.record(true, nil, next) {
		t.Fatal("good probe left the circuit open")
	}
	if probe, err := b.allow("p", next); err != nil || probe {
		t.Fatalf("closed circuit: probe %v, %v", probe, err)
	}
}

func TestBreakerCountsOnlyOutages(t *testing.T) {
	b := newBreaker(2, time.Second)
	now := time.Now()
	for _, code := range []paybridge.Code{paybridge.CodePaymentNotFound, paybridge.CodeProviderAuthFailed,
		paybridge.CodeProviderRateLimited, paybridge.CodeProviderBadResponse} {
		b.record(false, paybridge.Errorf(code, "x"), now)
		if b.record(false, paybridge.Errorf(code, "x"), now) {
			t.Fatalf("%s opened the circuit", code)
		}
	}
	b.record(false, paybridge.Errorf(paybridge.CodeProviderTimeout, "slow"), now)
	b.record(false, nil, now) // an answer in between resets the count
	if b.record(false, paybridge.Errorf(paybridge.CodeProviderTimeout, "slow"), now) {
		t.Fatal("failures that were not in a row opened the circuit")
	}
}

// An internal error (a provider client's own bug) says nothing of the
// provider: it neither counts as an outage nor resets the count.
func TestBreakerIgnoresInternalErrors(t *testing.T) {
	b := newBreaker(2, time.Second)
	now := time.Now()
	slow := paybridge.Errorf(paybridge.CodeProviderTimeout, "slow")
	b.record(false, slow, now)
	if b.record(false, paybridge.Errorf(paybridge.CodeInternal, "panic"), now) {
		t.Fatal("an internal error opened the circuit")
	}
	if !b.record(false, slow, now) {
		t.Fatal("an internal error reset the count of outages in a row")
	}
}
