package bridge

import "time"

// pool is one provider's share of the in-flight limit: at most cap(slots)
// of its checks run at once, and fire-and-forget checks past that wait in
// a queue of cap(queue). A job is handed the slot it runs in and must call
// done once its answer is ready: the slot then goes to a queued job or is
// freed. Nothing here blocks, so the intake subscription never waits.
//
// Jobs run on workers that stay for the next job a while: a goroutine
// whose stack has grown through a provider call serves many checks, where
// a fresh goroutine per check would grow (copy) its stack every time.
type pool struct {
	slots chan struct{}
	queue chan func()
	idle  chan func() // jobs handed to a worker waiting for one
}

// workerIdle is how long a worker waits for another job before it ends.
const workerIdle = 10 * time.Second

func newPool(size, queue int) *pool {
	return &pool{slots: make(chan struct{}, size), queue: make(chan func(), queue), idle: make(chan func())}
}

// run hands job to an idle worker, or starts one.
func (p *pool) run(job func()) {
	select {
	case p.idle <- job:
	default:
		go p.work(job)
	}
}

// work runs job, then the jobs handed to it, until it has waited workerIdle
// for one.
func (p *pool) work(job func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		job()
		t.Reset(workerIdle)
		select {
		case job = <-p.idle:
		case <-t.C:
			return
		}
	}
}

// try runs job on its own goroutine if a slot is free, and reports whether
// it did: for a request with someone waiting on the answer, who is better
// told "overloaded" at once.
func (p *pool) try(job func()) bool {
	select {
	case p.slots <- struct{}{}:
		p.run(job)
		return true
	default:
		return false
	}
}

// tryOrQueue runs job, or queues it for the next free slot, and reports
// false when the queue is full too: for a fire-and-forget request, whose
// refusal nobody would hear.
func (p *pool) tryOrQueue(job func()) bool {
	if p.try(job) {
		return true
	}
	select {
	case p.queue <- job:
	default:
		return false
	}
	// Every slot may have been freed between the try and the queueing;
	// if one is free now, the queued job must not wait for the next
	// arrival.
	select {
	case p.slots <- struct{}{}:
		p.done()
	default:
	}
	return true
}

// done hands the caller's slot to a queued job, or frees it.
func (p *pool) done() {
	for {
		select {
		case job := <-p.queue:
			p.run(job)
			return
		default:
		}
		<-p.slots
		// A job queued between the look and the release would wait for
		// the next arrival: take a slot back for it unless every slot is
		// held, in which case its holder hands it over when done.
		if len(p.queue) == 0 {
			return
		}
		select {
		case p.slots <- struct{}{}:
		default:
			return
		}
	}
}
