package bridge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is a provider call budget: at most N calls per Per.
type Rate struct {
	N   int
	Per time.Duration
}

func (r Rate) String() string { return fmt.Sprintf("%d/%s", r.N, r.Per) }

// ParseRate reads a budget such as "1000/24h" or "5/1s". The empty string
// is no budget (the zero Rate). Errors say what is wrong, not the input:
// the caller names the flag it came from.
func ParseRate(s string) (Rate, error) {
	if s == "" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, errors.New("want calls/duration, e.g. 1000/24h")
	}
	calls, err := strconv.Atoi(n)
	if err != nil || calls < 1 {
		return Rate{}, errors.New("calls must be a whole number of at least 1")
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q is not a positive duration", per)
	}
	return Rate{N: calls, Per: d}, nil
}

// ParseSchedule reads a watch schedule such as "10s,30s,1m,2m,5m,10m": the
// delays before each re-check, the last one repeating.
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a positive duration", part)
		}
		out = append(out, d)
	}
	return out, nil
}

// FormatSchedule writes a watch schedule as ParseSchedule reads it.
func FormatSchedule(steps []time.Duration) string {
	parts := make([]string, len(steps))
	for i, d := range steps {
		parts[i] = shortDuration(d)
	}
	return strings.Join(parts, ",")
}

// shortDuration writes d as people do: 10s, 1m, 2h30m, not 1m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
