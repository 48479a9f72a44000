package bridge

import (
	"context"
	"math"
	"sync"
	"time"
)

const (
	// minHeldWatches and maxHeldWatches bound the watches one instance
	// holds at once; between them the bound follows the provider calls.
	minHeldWatches = 64
	maxHeldWatches = 4096
	// heldInterval is how often the bound is set again from what the
	// watches let go in the interval took.
	heldInterval = time.Second
	// heldBurst is the room for bursts: repeating schedules fire on whole
	// seconds, so a second's due watches come together, and the bound
	// lets them all be taken within a quarter of a second.
	heldBurst = 4
)

// heldWatches bounds the due watches this instance holds at once (each one
// a worker, a provider connection, their buffers), and sets the bound
// every second by Little's law: the watches taken per second, times how
// long a watch was held, times heldBurst. A provider that answers in a
// millisecond needs a few dozen held to keep up, and holding a whole
// second's burst at once would only grow the heap and the connection pool
// (at 100,000 watches, 833 at once: a sixth more CPU per re-check and
// twice the memory); one that answers in 500 ms needs the whole burst
// held. While the bound is reached, the watches taken are all it lets
// through, so the next bound is heldBurst times the last: it grows within
// seconds, and comes down by half the way each second.
//
// Durations are the wall clock's: the bridge's Clock may be skewed or
// driven by a test, and this measures how long calls take.
type heldWatches struct {
	now func() time.Time

	mu      sync.Mutex
	n       int           // held now
	limit   int           // the bound now
	waiting int           // takers waiting for room
	room    chan struct{} // closed when room is made while takers wait
	// Over the interval since: watches taken, and those let go with the
	// sum of how long each was held.
	since       time.Time
	taken, gone int
	busy        time.Duration
}

func newHeldWatches() *heldWatches {
	return &heldWatches{now: time.Now, limit: maxHeldWatches, room: make(chan struct{}), since: time.Now()}
}

// take waits until this instance may hold one more watch, and reports
// false when ctx ended first.
func (h *heldWatches) take(ctx context.Context) bool {
	h.mu.Lock()
	for {
		h.adaptIfDue()
		if h.n < h.limit {
			h.n++
			h.taken++
			h.mu.Unlock()
			return true
		}
		h.waiting++
		room := h.room
		h.mu.Unlock()
		timer := time.NewTimer(heldInterval) // to set the bound even when no watch is let go
		select {
		case <-room:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
		h.mu.Lock()
		h.waiting--
		if ctx.Err() != nil {
			h.mu.Unlock()
			return false
		}
	}
}

// letGo gives back the room of a watch taken at since.
func (h *heldWatches) letGo(since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n--
	h.gone++
	h.busy += h.now().Sub(since)
	h.adaptIfDue()
	h.wake()
}

// held is how many watches this instance holds now.
func (h *heldWatches) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// wake lets the takers waiting look again. Called with mu held.
func (h *heldWatches) wake() {
	if h.waiting > 0 {
		close(h.room)
		h.room = make(chan struct{})
	}
}

// adaptIfDue sets the bound again once an interval has passed. Called
// with mu held.
func (h *heldWatches) adaptIfDue() {
	now := h.now()
	d := now.Sub(h.since)
	if d < heldInterval {
		return
	}
	want := h.limit
	switch {
	case h.gone > 0:
		perSecond := float64(h.taken) / d.Seconds()
		held := h.busy.Seconds() / float64(h.gone)
		want = int(math.Ceil(heldBurst * perSecond * held))
	case h.waiting > 0:
		// Nothing let go in a whole interval while takers wait: every
		// watch held is in a call slower than that.
		want = heldBurst * h.limit
	}
	if want < h.limit {
		// Down half the way: a lull says little of the next burst.
		want = h.limit - (h.limit-want)/2
	}
	h.limit = min(max(want, minHeldWatches), maxHeldWatches)
	h.since, h.taken, h.gone, h.busy = now, 0, 0, 0
	h.wake()
}
