package bridge

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/testkit"
)

// Every job the slots accept runs, and never more at once than the
// shared slots and the lanes' reserves, however submissions and
// completions of several lanes interleave; nothing is left held or
// queued.
func TestSlotsRunEveryAcceptedJobWithinTheirSize(t *testing.T) {
	const capacity, reserve, jobs = 3, 1, 20000
	s := newSlots(capacity)
	lanes := []*lane{s.lane("a", reserve, 8), s.lane("b", reserve, 8)}
	var running, peak, ran, accepted atomic.Int64
	var wg sync.WaitGroup
	job := func(held slot) {
		defer wg.Done()
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		running.Add(-1)
		ran.Add(1)
		s.done(held)
	}
	var submitters sync.WaitGroup
	for i := range 4 {
		submitters.Go(func() {
			for range jobs / 4 {
				wg.Add(1)
				if s.tryOrQueue(lanes[i%2], job) {
					accepted.Add(1)
				} else {
					wg.Done()
				}
			}
		})
	}
	submitters.Wait()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatalf("a queued job never ran: %d ran, %d accepted", ran.Load(), accepted.Load())
	}
	if ran.Load() != accepted.Load() || accepted.Load() == 0 {
		t.Fatalf("ran %d of %d accepted jobs", ran.Load(), accepted.Load())
	}
	if peak.Load() > capacity+2*reserve {
		t.Fatalf("%d jobs ran at once, the slots hold %d", peak.Load(), capacity+2*reserve)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lanes {
		if l.held != 0 || l.queued != 0 || l.reserveFree != reserve {
			t.Fatalf("lane %s left %d held, %d queued, %d of its reserve free", l.name, l.held, l.queued, l.reserveFree)
		}
	}
	if s.free != capacity {
		t.Fatalf("%d shared slots free, want %d", s.free, capacity)
	}
}

// One busy lane may take every shared slot while the others are idle,
// and then its own reserve; another lane still has its reserve; a slot
// freed by any lane serves the queue of another.
func TestSlotsLendIdleCapacityAndKeepAReserve(t *testing.T) {
	s := newSlots(2048)
	busy, idle := s.lane("busy", 128, 16), s.lane("idle", 128, 16)
	var held []slot
	hold := func(sl slot) { held = append(held, sl) } // runs on a worker
	var mu sync.Mutex
	job := func(sl slot) { mu.Lock(); hold(sl); mu.Unlock() }
	for i := range 2048 + 128 {
		if !s.try(busy, job) {
			t.Fatalf("check %d of the busy provider refused; 2,048 shared and 128 reserved", i+1)
		}
	}
	if s.try(busy, job) {
		t.Fatal("the busy provider took more than the shared slots and its reserve")
	}
	for i := range 128 {
		if !s.try(idle, job) {
			t.Fatalf("check %d of the other provider refused: its reserve is gone", i+1)
		}
	}
	// Queued behind: a check of the idle lane; a busy lane's slot frees.
	if !s.tryOrQueue(idle, job) {
		t.Fatal("the queue refused")
	}
	waitFor := func(n int) {
		testkit.WaitFor(t, 5*time.Second, fmt.Sprintf("%d jobs running", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(held) == n
		})
	}
	waitFor(2048 + 128 + 128)
	mu.Lock()
	first := held[0] // a shared slot of the busy lane
	mu.Unlock()
	s.done(first)
	waitFor(2048 + 128 + 128 + 1)
	if s.queueLen(idle) != 0 {
		t.Fatal("a shared slot freed by the busy lane did not serve the other lane's queue")
	}
}
