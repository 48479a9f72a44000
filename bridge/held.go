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
	// heldInterval is how often the bound is set again from the watches
	// held on average over the interval.
	heldInterval = time.Second
	// heldBurst is the room for bursts: repeating schedules fire on whole
	// seconds, so a second's due watches come together, and the bound
	// lets them all be taken within a quarter of a second.
	heldBurst = 4
)

// heldWatches bounds the due watches this instance holds at once (each one
// a worker, a provider connection, their buffers), and sets the bound
// every second to the watches held on average over the second (by
// Little's law, taken per second times how long one was held; measured
// directly, so that watches still held count), times heldBurst.
// A provider that answers in a millisecond needs a few dozen held to keep
// up, and holding a whole second's burst at once would only grow the heap
// and the connection pool (at 100,000 watches, 833 at once); one that
// answers in 500 ms needs the whole burst held. While the bound is
// reached the average is the bound, so the next is heldBurst times it: it
// grows within seconds, also when every watch held is in a call slower
// than a second. It comes down by half the way each second. The bound is
// the instance's, shared by its providers.
//
// Durations are time.Now's monotonic readings: the bridge's Clock may be
// skewed or driven by a test, and this measures how long watches are held.
type heldWatches struct {
	now func() time.Time

	mu      sync.Mutex
	n       int           // held now
	limit   int           // the bound now
	waiting int           // takers waiting for room
	room    chan struct{} // closed when room is made while takers wait
	// Since the interval began at since: the watches held integrated
	// over time (watch-seconds), counted up to at.
	since, at time.Time
	area      float64
}

func newHeldWatches() *heldWatches {
	now := time.Now()
	return &heldWatches{now: time.Now, limit: maxHeldWatches, room: make(chan struct{}), since: now, at: now}
}

// take waits until this instance may hold one more watch, and reports
// false when ctx ended first.
func (h *heldWatches) take(ctx context.Context) bool { return h.takeBy(ctx, time.Time{}) }

// takeBy is take that also gives up at by, unless by is zero. The
// wait's own timer is made only when it has to wait.
func (h *heldWatches) takeBy(ctx context.Context, by time.Time) bool {
	var timer *time.Timer
	h.mu.Lock()
	for {
		h.count()
		if h.n < h.limit {
			h.n++
			h.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		wait := heldInterval
		if !by.IsZero() {
			if wait = min(wait, time.Until(by)); wait <= 0 {
				h.mu.Unlock()
				if timer != nil {
					timer.Stop()
				}
				return false
			}
		}
		h.waiting++
		room := h.room
		h.mu.Unlock()
		// The timer sets the bound again even when no watch is let go.
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-room:
		case <-timer.C:
		case <-ctx.Done():
		}
		h.mu.Lock()
		h.waiting--
		if ctx.Err() != nil {
			h.mu.Unlock()
			timer.Stop()
			return false
		}
	}
}

// letGo gives back the room of a watch taken.
func (h *heldWatches) letGo() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count()
	h.n--
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

// count adds the watches held since the last count to the interval's
// area, and sets the bound again once the interval has passed. Called
// with mu held, before n changes.
func (h *heldWatches) count() {
	now := h.now()
	h.area += float64(h.n) * now.Sub(h.at).Seconds()
	h.at = now
	d := now.Sub(h.since)
	if d < heldInterval {
		return
	}
	want := int(min(math.Ceil(heldBurst*h.area/d.Seconds()), maxHeldWatches))
	if want < h.limit {
		// Down half the way: a lull says little of the next burst.
		want = h.limit - (h.limit-want)/2
	}
	h.limit = max(want, minHeldWatches)
	h.since, h.area = now, 0
	h.wake()
}
