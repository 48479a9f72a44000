package bridge

import (
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
)

func TestBreakerOpensAfterFailuresInARowAndProbes(t *testing.T) {
	b := newBreaker(3, time.Second)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	down := providers.Errorf(providers.CodeProviderUnavailable, "503")
	for i := range 3 {
		if err := b.allow("p", now); err != nil {
			t.Fatalf("call %d refused: %v", i, err)
		}
		b.record(down, now)
	}
	err := b.allow("p", now.Add(500*time.Millisecond))
	if providers.ErrorCode(err) != providers.CodeProviderUnavailable {
		t.Fatalf("open circuit let a call through: %v", err)
	}
	// After the cooldown one probe goes, and only one.
	later := now.Add(2 * time.Second)
	if err := b.allow("p", later); err != nil {
		t.Fatalf("probe refused: %v", err)
	}
	if err := b.allow("p", later); err == nil {
		t.Fatal("a second call went while the probe was under way")
	}
	// A failed probe opens it again; a good one closes it.
	if !b.record(down, later) {
		t.Fatal("failed probe closed the circuit")
	}
	if err := b.allow("p", later.Add(time.Millisecond)); err == nil {
		t.Fatal("circuit not open again after a failed probe")
	}
	probe := later.Add(2 * time.Second)
	if err := b.allow("p", probe); err != nil {
		t.Fatalf("second probe refused: %v", err)
	}
	if b.record(nil, probe) {
		t.Fatal("good probe left the circuit open")
	}
	if err := b.allow("p", probe); err != nil {
		t.Fatalf("closed circuit refused: %v", err)
	}
}

func TestBreakerCountsOnlyOutages(t *testing.T) {
	b := newBreaker(2, time.Second)
	now := time.Now()
	for _, code := range []providers.Code{providers.CodePaymentNotFound, providers.CodeProviderAuthFailed,
		providers.CodeProviderRateLimited, providers.CodeProviderBadResponse} {
		b.allow("p", now)
		b.record(providers.Errorf(code, "x"), now)
		b.allow("p", now)
		if b.record(providers.Errorf(code, "x"), now) {
			t.Fatalf("%s opened the circuit", code)
		}
	}
	b.allow("p", now)
	b.record(providers.Errorf(providers.CodeProviderTimeout, "slow"), now)
	b.allow("p", now)
	b.record(nil, now) // an answer in between resets the count
	b.allow("p", now)
	if b.record(providers.Errorf(providers.CodeProviderTimeout, "slow"), now) {
		t.Fatal("failures that were not in a row opened the circuit")
	}
}
