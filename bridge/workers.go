package bridge

import (
	"sync"
	"time"
)

// workers runs each job handed to it on a goroutine that then stays a
// while for the next one: a goroutine whose stack has grown through a
// provider call serves many jobs, where a fresh goroutine per job would
// grow (copy) its stack every time.
//
// The worker idle the shortest is handed the next job, so that after a
// burst the workers a lull does not need wait out idleFor and end. Handed
// out in turn (a channel's receivers are), a burst's thousand workers
// each got a job every second at 833 watch re-checks a second and never
// ended: their stacks, and the provider connections they kept busy, held
// the memory the collector then scanned without pause.
type workers[T any] struct {
	do      func(T)
	idleFor time.Duration

	mu   sync.Mutex
	idle []chan T // the idle workers' inboxes, most recently idle last
	quit chan struct{}
	wg   sync.WaitGroup
}

// workerIdle is how long a worker of the checks and of the watches waits
// for another job before it ends.
const workerIdle = 10 * time.Second

func newWorkers[T any](idleFor time.Duration, do func(T)) *workers[T] {
	return &workers[T]{do: do, idleFor: idleFor, quit: make(chan struct{})}
}

// run hands job to the worker idle the shortest, or starts one. It never
// blocks.
func (ws *workers[T]) run(job T) {
	ws.mu.Lock()
	if n := len(ws.idle); n > 0 {
		inbox := ws.idle[n-1]
		ws.idle[n-1] = nil
		ws.idle = ws.idle[:n-1]
		ws.mu.Unlock()
		inbox <- job // buffered: the worker takes it when it wakes
		return
	}
	ws.mu.Unlock()
	ws.wg.Go(func() { ws.work(job) })
}

// work does job, then the jobs handed to it, until it has been idle for
// idleFor or the workers stop.
func (ws *workers[T]) work(job T) {
	inbox := make(chan T, 1)
	timer := time.NewTimer(ws.idleFor)
	defer timer.Stop()
	for {
		ws.do(job)
		var zero T
		job = zero
		ws.mu.Lock()
		ws.idle = append(ws.idle, inbox)
		ws.mu.Unlock()
		timer.Reset(ws.idleFor)
		select {
		case job = <-inbox:
			continue
		case <-timer.C:
		case <-ws.quit:
		}
		if ws.leave(inbox) {
			return
		}
		job = <-inbox // handed a job while leaving: it is on its way
	}
}

// leave takes inbox out of the idle workers, and reports false when run
// had already taken it to hand it a job.
func (ws *workers[T]) leave(inbox chan T) bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, c := range ws.idle {
		if c == inbox {
			ws.idle = append(ws.idle[:i], ws.idle[i+1:]...)
			return true
		}
	}
	return false
}

// stop ends the workers once their jobs are done, and waits for them. No
// job may be handed over after it is called.
func (ws *workers[T]) stop() {
	close(ws.quit)
	ws.wg.Wait()
}

// idleCount is how many workers wait for a job (for tests).
func (ws *workers[T]) idleCount() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.idle)
}
