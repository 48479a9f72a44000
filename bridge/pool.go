package bridge

import (
	"context"
	"sync"
	"time"
)

// slots bounds the requests in flight. Its capacity is shared by every
// lane (a provider), first come first served, so that one busy provider
// may use all of it while the others are idle; each lane also has a small
// reserve that only it may use, so that a provider that hangs holding
// every shared slot never leaves another without one. Fire-and-forget
// requests past a lane's slots wait in that lane's bounded queue, served
// as slots free up, lanes taking turns. Nothing here blocks, so the
// intake subscription never waits.
//
// Jobs run on workers (workers.go). stop ends the idle workers and waits
// for them.
type slots struct {
	mu    sync.Mutex
	free  int     // shared slots free
	lanes []*lane // taking turns for freed slots
	turn  int

	workers *workers[task]
	freed   chan struct{} // told, when nobody has yet, that a slot was given back
}

// lane is one provider's reserve and queue.
type lane struct {
	name         string
	reserveFree  int
	reserve      int
	queue        []task // FIFO of at most queueCap
	queueCap     int
	queued, held int // for the gauges and tests: queued jobs, slots held
}

// slot is what a running job holds; it gives it back with done.
type slot struct {
	lane     *lane
	reserved bool
}

type task struct {
	job  func(slot)
	slot slot
}

func newSlots(capacity int) *slots {
	return &slots{free: capacity, workers: newWorkers(workerIdle, func(t task) { t.job(t.slot) }), freed: make(chan struct{}, 1)}
}

// lane adds a lane with its reserve and queue.
func (s *slots) lane(name string, reserve, queue int) *lane {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &lane{name: name, reserve: reserve, reserveFree: reserve, queueCap: queue}
	s.lanes = append(s.lanes, l)
	return l
}

// take takes a slot for l: a shared one, else one of its reserve. s.mu
// is held.
func (s *slots) take(l *lane) (slot, bool) {
	switch {
	case s.free > 0:
		s.free--
	case l.reserveFree > 0:
		l.reserveFree--
		l.held++
		return slot{lane: l, reserved: true}, true
	default:
		return slot{}, false
	}
	l.held++
	return slot{lane: l}, true
}

// try runs job at once in a slot of l, and reports whether it did: for a
// request with someone waiting on the answer, who is better told
// "overloaded" at once.
func (s *slots) try(l *lane, job func(slot)) bool {
	s.mu.Lock()
	sl, ok := s.take(l)
	s.mu.Unlock()
	if ok {
		s.run(task{job, sl})
	}
	return ok
}

// tryOrQueue runs job, or queues it in l for the next free slot, and
// reports false when the queue is full too: for a fire-and-forget
// request, whose refusal nobody would hear.
func (s *slots) tryOrQueue(l *lane, job func(slot)) bool {
	s.mu.Lock()
	sl, ok := s.take(l)
	if !ok && len(l.queue) < l.queueCap {
		l.queue = append(l.queue, task{job: job})
		l.queued++
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	if ok {
		s.run(task{job, sl})
	}
	return ok
}

// done gives back the slot a job held, and starts the queued jobs the
// slots now free can take, lanes taking turns.
func (s *slots) done(sl slot) {
	s.mu.Lock()
	sl.lane.held--
	if sl.reserved {
		sl.lane.reserveFree++
	} else {
		s.free++
	}
	var start []task
	for tried := 0; tried < len(s.lanes); {
		l := s.lanes[s.turn]
		s.turn = (s.turn + 1) % len(s.lanes)
		tried++
		if len(l.queue) == 0 {
			continue
		}
		next, ok := s.take(l)
		if !ok {
			continue
		}
		t := l.queue[0]
		l.queue[0] = task{}
		l.queue = l.queue[1:]
		l.queued--
		t.slot = next
		start = append(start, t)
		tried = 0 // a lane may take another turn while slots last
	}
	s.mu.Unlock()
	for _, t := range start {
		s.run(t)
	}
	select {
	case s.freed <- struct{}{}:
	default:
	}
}

// await runs job in a slot of l as soon as one is free, waiting up to d
// for one, and reports whether it did: for a queued check, which waits its
// turn in its stream, not in memory. One caller at a time may wait.
func (s *slots) await(ctx context.Context, l *lane, job func(slot), d time.Duration) bool {
	if s.try(l, job) {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-s.freed:
			if s.try(l, job) {
				return true
			}
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// run hands t to a worker.
func (s *slots) run(t task) { s.workers.run(t) }

// stop ends the workers once their jobs are done, and waits for them. No
// job may be handed over after it is called.
func (s *slots) stop() { s.workers.stop() }

// queueLen is how many jobs wait in l.
func (s *slots) queueLen(l *lane) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return l.queued
}
