package bridge

import (
	"context"
	"runtime"
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
	s.h.since = s.now
	return s
}

// second runs one second of a burst of n in 1 ms ticks, and returns how
// long the burst took to be taken whole.
func (s *burstSim) second(t *testing.T, n int) time.Duration {
	t.Helper()
	s.due += n
	var taken time.Duration = -1
	for tick := time.Duration(0); tick < time.Second; tick += time.Millisecond {
		for len(s.ends) > 0 && !s.ends[0].After(s.now) {
			s.h.letGo(s.ends[0].Add(-s.latency))
			s.ends = s.ends[1:]
		}
		for s.due > 0 && s.h.n < s.h.limit {
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

// Calls slower than the interval let nothing go in it: the bound grows
// anyway while watches wait for room.
func TestHeldWatchesGrowWhileNoneIsLetGo(t *testing.T) {
	s := newBurstSim(time.Hour)
	s.h.limit = minHeldWatches
	s.second(t, 2*minHeldWatches)
	s.h.waiting = 1 // a taker waits; nothing was let go
	s.now = s.now.Add(heldInterval)
	s.h.adaptIfDue()
	if s.h.limit != heldBurst*minHeldWatches {
		t.Fatalf("bound %d, want %d", s.h.limit, heldBurst*minHeldWatches)
	}
}

// take waits for room, gets it when a watch is let go, and gives up when
// its context ends.
func TestHeldWatchesTakeWaitsForRoom(t *testing.T) {
	h := newHeldWatches()
	h.limit = 1
	if !h.take(t.Context()) {
		t.Fatal("the first take was refused")
	}
	got := make(chan bool)
	go func() { got <- h.take(t.Context()) }()
	for deadline := time.Now().Add(5 * time.Second); ; {
		h.mu.Lock()
		waiting := h.waiting
		h.mu.Unlock()
		if waiting == 1 {
			break
		}
		select {
		case <-got:
			t.Fatal("a second take got room at a bound of one")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the second take neither waits nor returns")
		}
		runtime.Gosched()
	}
	h.letGo(time.Now())
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
