package client

import (
	"testing"
	"time"
)

// The delay before an event comes back doubles with each delivery and
// stops growing at the cap, however many deliveries there were.
func TestRetryDelayDoublesUpToItsCap(t *testing.T) {
	c := subscribeConfig{retryFirst: time.Second, retryMax: 10 * time.Second}
	for delivered, want := range map[uint64]time.Duration{
		0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second,
		5: 10 * time.Second, 64: 10 * time.Second, 1 << 62: 10 * time.Second,
	} {
		if got := c.retryDelay(delivered); got != want {
			t.Errorf("after delivery %d: %s, want %s", delivered, got, want)
		}
	}
}
