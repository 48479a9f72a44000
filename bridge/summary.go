package bridge

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// summary logs an event that may come by the thousand (a dropped check, a
// refused request): the first at once with its details, then at most one
// line an interval saying how many more came, so that a flood costs a few
// lines, not one per event. Every event is counted in the metrics too.
type summary struct {
	log   *slog.Logger
	every time.Duration
	msg   string

	mu      sync.Mutex
	quiet   bool // a line was written less than every ago
	more    int  // events since that line
	timer   *time.Timer
	stopped bool
}

func newSummary(log *slog.Logger, every time.Duration, msg string) *summary {
	return &summary{log: log, every: every, msg: msg}
}

// note logs one event, or counts it for the next summary line.
func (s *summary) note(ctx context.Context, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet {
		s.more++
		return
	}
	s.log.WarnContext(ctx, s.msg, args...)
	s.quiet = true
	if !s.stopped {
		s.timer = time.AfterFunc(s.every, s.flush)
	}
}

// flush writes how many events came since the last line, if any, and
// stays quiet for another interval after writing.
func (s *summary) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.more == 0 {
		s.quiet = false
		return
	}
	s.log.Warn(s.msg, "count", s.more, "within", s.every.String())
	s.more = 0
	if !s.stopped {
		s.timer = time.AfterFunc(s.every, s.flush)
	}
}

// stop writes what is left to say and stops the timer.
func (s *summary) stop() {
	s.mu.Lock()
	s.stopped = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
	s.flush()
}
