package bridge

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// burstSim drives heldWatches on a simulated clock the way repeating
// schedules load it: every whole second a burst of due watches, each held
// for the provider's latency once taken.
type burstSim struct {
	h       *heldWatches
	now     time.Time
	latency time.Duration
	due     int         // delivered, not yet taken
	ends    []time.Time // of the watches held, in order taken
}

func newBurstSim(latency time.Duration) *burstSim {
	s := &burstSim{now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC), latency: latency}
	s.h = newHeldWatches()
	s.h.now = func() time.Time { return s.now }
	s.h.since, s.h.at = s.now, s.now
	return s
}

// hasRoom is whether take would return at once now.
func (s *burstSim) hasRoom() bool {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	s.h.count()
	return s.h.n < s.h.limit
}

// second runs one second of a burst of n in 1 ms ticks, and returns how
// long the burst took to be taken whole.
func (s *burstSim) second(t *testing.T, n int) time.Duration {
	t.Helper()
	s.due += n
	var taken time.Duration = -1
	for tick := time.Duration(0); tick < time.Second; tick += time.Millisecond {
		for len(s.ends) > 0 && !s.ends[0].After(s.now) {
			s.h.letGo()
			s.ends = s.ends[1:]
		}
		for s.due > 0 && s.hasRoom() {
			if !s.h.take(t.Context()) {
				t.Fatal("take refused with room")
			}
			s.due--
			s.ends = append(s.ends, s.now.Add(s.latency))
		}
		if s.due == 0 && taken < 0 {
			taken = tick
		}
		s.now = s.now.Add(time.Millisecond)
	}
	if taken < 0 {
		return time.Second
	}
	return taken
}

// The bound comes down to the floor when the provider answers at once,
// bursts are still taken at once, and it grows within seconds to hold a
// whole burst when the provider takes 500 ms: both regimes on time.
func TestHeldWatchesFollowTheProvidersLatency(t *testing.T) {
	const burst = 833 // 100,000 watches on a 2-minute step
	s := newBurstSim(2 * time.Millisecond)
	for range 15 {
		s.second(t, burst)
	}
	if s.h.limit != minHeldWatches {
		t.Fatalf("bound %d after 15 s of 2 ms calls, want %d", s.h.limit, minHeldWatches)
	}
	if took := s.second(t, burst); took > 50*time.Millisecond {
		t.Fatalf("a burst of %d took %v to be taken at 2 ms a call", burst, took)
	}

	s.latency = 500 * time.Millisecond
	var late []time.Duration
	for i := range 15 {
		took := s.second(t, burst)
		if i >= 5 && took > time.Second/heldBurst {
			late = append(late, took)
		}
	}
	if len(late) > 0 {
		t.Fatalf("at 500 ms a call, bursts after the first 5 s took %v to be taken, bound %d", late, s.h.limit)
	}
	if want := heldBurst * burst / 2; s.h.limit < want {
		t.Fatalf("bound %d at 500 ms a call, want at least %d", s.h.limit, want)
	}

	s.latency = 2 * time.Millisecond
	for range 15 {
		s.second(t, burst)
	}
	if s.h.limit != minHeldWatches {
		t.Fatalf("bound %d 15 s after the provider answered at once again, want %d", s.h.limit, minHeldWatches)
	}
}

// Watches stuck in a slow provider's calls count as held: a fast
// provider's bursts still get room within seconds.
func TestHeldWatchesCountTheStuckOnes(t *testing.T) {
	const burst = 833
	s := newBurstSim(2 * time.Millisecond)
	s.h.limit = minHeldWatches
	for range minHeldWatches - 1 { // a provider that answers in an hour
		s.h.take(t.Context())
	}
	var late []time.Duration
	for i := range 10 {
		if took := s.second(t, burst); i >= 3 && took > time.Second/heldBurst {
			late = append(late, took)
		}
	}
	if len(late) > 0 {
		t.Fatalf("with %d watches stuck, bursts after 3 s took %v to be taken, bound %d", minHeldWatches-1, late, s.h.limit)
	}
}

// A taker waiting while every watch held is in a call slower than a
// second, so that none is let go, still sees the bound grow.
func TestHeldWatchesGrowWhileNoneIsLetGo(t *testing.T) {
	var now atomic.Int64 // the simulated clock, in nanoseconds
	h := newHeldWatches()
	h.now = func() time.Time { return time.Unix(0, now.Load()) }
	h.since, h.at, h.limit = h.now(), h.now(), minHeldWatches
	for range minHeldWatches {
		h.take(t.Context())
	}
	got := make(chan bool)
	go func() { got <- h.take(t.Context()) }()
	waitForTakers(t, h, 1)
	now.Add(int64(heldInterval))
	select {
	case ok := <-got: // once the taker's own timer fired
		if !ok {
			t.Fatal("the waiting take was refused")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a take still waits a second after %d were held a whole second; bound %d", minHeldWatches, h.limit)
	}
	if h.held() != minHeldWatches+1 || h.limit != heldBurst*minHeldWatches {
		t.Fatalf("%d held, bound %d; want %d, %d", h.held(), h.limit, minHeldWatches+1, heldBurst*minHeldWatches)
	}
}

// take waits for room, gets it when a watch is let go, and gives up when
// its context ends.
func TestHeldWatchesTakeWaitsForRoom(t *testing.T) {
	h := newHeldWatches()
	frozen := time.Now()
	h.now = func() time.Time { return frozen } // the bound stays at one
	h.limit = 1
	if !h.take(t.Context()) {
		t.Fatal("the first take was refused")
	}
	got := make(chan bool)
	go func() { got <- h.take(t.Context()) }()
	waitForTakers(t, h, 1)
	select {
	case <-got:
		t.Fatal("a second take got room at a bound of one")
	default:
	}
	h.letGo()
	if !<-got {
		t.Fatal("the waiting take was refused after room was made")
	}

	ctx, cancel := context.WithCancel(t.Context())
	go func() { got <- h.take(ctx) }()
	cancel()
	if <-got {
		t.Fatal("a take got room at a bound of one after its context ended")
	}
	if n := h.held(); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
}

// waitForTakers polls until n takers wait for room.
func waitForTakers(t *testing.T, h *heldWatches, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; runtime.Gosched() {
		h.mu.Lock()
		waiting := h.waiting
		h.mu.Unlock()
		if waiting == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d takers wait, want %d", waiting, n)
		}
	}
}
