package bridge

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every job a pool accepts runs, and never more than its size at once,
// however submissions and completions interleave.
func TestPoolRunsEveryAcceptedJobWithinItsSize(t *testing.T) {
	const size, jobs = 3, 20000
	p := newPool(size, 8)
	var running, peak, ran, accepted atomic.Int64
	var wg sync.WaitGroup
	job := func() {
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
		p.done()
	}
	var submitters sync.WaitGroup
	for range 4 {
		submitters.Go(func() {
			for range jobs / 4 {
				wg.Add(1)
				if p.tryOrQueue(job) {
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
	if peak.Load() > size {
		t.Fatalf("%d jobs ran at once, the pool holds %d", peak.Load(), size)
	}
	if len(p.slots) != 0 || len(p.queue) != 0 {
		t.Fatalf("left behind: %d slots held, %d queued", len(p.slots), len(p.queue))
	}
}
