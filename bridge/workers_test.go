package bridge

import (
	"sync"
	"testing"
	"time"
)

// After a burst, the workers a steady trickle of jobs does not need end:
// the next job goes to the worker idle the shortest. Handed out in turn,
// a hundred workers would each get a job well within their idle time
// here, and all of them would stay.
func TestWorkersAfterABurstOnlyTheNeededStay(t *testing.T) {
	release := make(chan struct{})
	var burst sync.WaitGroup
	ws := newWorkers(200*time.Millisecond, func(job func()) { job() })
	defer ws.stop()
	for range 100 {
		burst.Add(1)
		ws.run(func() { defer burst.Done(); <-release })
	}
	close(release)
	burst.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for {
		done := make(chan struct{})
		ws.run(func() { close(done) })
		<-done
		if ws.idleCount() <= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still idle 10 s after the burst, with one job at a time", ws.idleCount())
		}
	}
}

// Every job handed over runs once, also when workers are idling out and
// being handed jobs at the same moment, and stop waits for them all.
func TestWorkersRunEveryJobOnce(t *testing.T) {
	var mu sync.Mutex
	ran := map[int]int{}
	ws := newWorkers(time.Microsecond, func(i int) { mu.Lock(); ran[i]++; mu.Unlock() })
	const jobs = 20_000
	var senders sync.WaitGroup
	for s := range 4 {
		senders.Go(func() {
			for i := s; i < jobs; i += 4 {
				ws.run(i)
			}
		})
	}
	senders.Wait()
	ws.stop()
	if len(ran) != jobs {
		t.Fatalf("%d of %d jobs ran", len(ran), jobs)
	}
	for i, n := range ran {
		if n != 1 {
			t.Fatalf("job %d ran %d times", i, n)
		}
	}
}
