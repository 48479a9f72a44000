package bridge

import (
	"sync"
	"sync/atomic"
	"time"
)

// offsetWindow is how long a reading of the server's clock is kept.
const offsetWindow = time.Minute

// serverClock estimates how far this instance's clock runs ahead of the
// NATS server's, from the time the server stamps on its answers: a
// schedule fires by the server's clock. A reading is off by up to half its
// round trip, and a busy server answers late, so the estimate is the
// reading with the shortest round trip of the last offsetWindow. Taking
// the latest reading instead made re-checks come early by however late the
// server answered: 1,025 of 1,000,000 by more than 10 ms at a million
// watches.
type serverClock struct {
	mu       sync.Mutex
	readings []clockReading
	offset   atomic.Int64 // ns, of the best reading
}

type clockReading struct {
	at     time.Time // when the answer came
	rtt    time.Duration
	offset time.Duration
}

// note takes a reading: a request sent at sent, answered at got, that the
// server stamped server.
func (c *serverClock) note(sent, got, server time.Time) {
	r := clockReading{at: got, rtt: got.Sub(sent), offset: sent.Add(got.Sub(sent) / 2).Sub(server)}
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.readings[:0]
	for _, old := range c.readings {
		if got.Sub(old.at) < offsetWindow {
			kept = append(kept, old)
		}
	}
	c.readings = append(kept, r)
	best := r
	for _, old := range c.readings {
		if old.rtt < best.rtt {
			best = old
		}
	}
	c.offset.Store(int64(best.offset))
}

// serverTime is t of this instance's clock on the server's.
func (c *serverClock) serverTime(t time.Time) time.Time {
	return t.Add(-time.Duration(c.offset.Load()))
}

// localTime is t of the server's clock on this instance's.
func (c *serverClock) localTime(t time.Time) time.Time {
	return t.Add(time.Duration(c.offset.Load()))
}
