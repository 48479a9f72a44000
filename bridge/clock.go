package bridge

import "time"

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// wallClock is the system's clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
