package bridge

import (
	"errors"
	"sync"

	"github.com/nats-io/nats.go"
)

// unreadRequests counts the requests the NATS client dropped unread
// because an intake subscription's buffer was full (intakePendingBytes).
// The client says so once per episode through the connection's error
// handler, handing over the subscription, whose Dropped count then has
// the number; micro does not expose its subscriptions otherwise.
type unreadRequests struct {
	subjects []string
	mu       sync.Mutex
	dropped  map[*nats.Subscription]int // the last count read of each
}

// newUnreadRequests wraps nc's error handler to learn of the intake
// subscriptions on subjects that overflow; the handler set before is
// still called for every error.
func newUnreadRequests(nc *nats.Conn, subjects ...string) *unreadRequests {
	u := &unreadRequests{subjects: subjects, dropped: map[*nats.Subscription]int{}}
	prev := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, sub *nats.Subscription, err error) {
		if sub != nil && errors.Is(err, nats.ErrSlowConsumer) {
			u.note(sub)
		}
		if prev != nil {
			prev(c, sub, err)
		}
	})
	return u
}

func (u *unreadRequests) note(sub *nats.Subscription) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, known := u.dropped[sub]; known {
		return
	}
	for _, subject := range u.subjects {
		if sub.Subject == subject {
			u.dropped[sub] = 0
			return
		}
	}
}

// count is how many requests were dropped unread so far. A subscription
// that is gone keeps its last count, so the sum never falls.
func (u *unreadRequests) count() float64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int
	for sub, last := range u.dropped {
		if d, err := sub.Dropped(); err == nil && d > last {
			u.dropped[sub], last = d, d
		}
		n += last
	}
	return float64(n)
}
