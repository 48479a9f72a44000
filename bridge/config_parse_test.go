package bridge_test

import (
	"slices"
	"testing"
	"time"

	"github.com/paybridge/paybridge/bridge"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]bridge.Rate{"1000/24h": {1000, 24 * time.Hour}, "5/1s": {5, time.Second}, "": {}} {
		got, err := bridge.ParseRate(in)
		if err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"5", "0/1s", "-1/1s", "x/1s", "5/", "5/0s", "5/-1s", "5/day"} {
		if _, err := bridge.ParseRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := bridge.ParseSchedule("10s, 30s,1m")
	if err != nil || !slices.Equal(got, []time.Duration{10 * time.Second, 30 * time.Second, time.Minute}) {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "10s,,1m", "0s", "-1s", "soon"} {
		if _, err := bridge.ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFormatScheduleRoundTrips(t *testing.T) {
	def := bridge.DefaultConfig().WatchSchedule
	text := bridge.FormatSchedule(def)
	if text != "10s,30s,1m,2m,5m,10m" {
		t.Fatalf("default schedule written as %q", text)
	}
	for _, s := range []string{text, "150ms,1h30m,2h", "45s"} {
		steps, err := bridge.ParseSchedule(s)
		if err != nil || bridge.FormatSchedule(steps) != s {
			t.Fatalf("%q → %v, %v → %q", s, steps, err, bridge.FormatSchedule(steps))
		}
	}
}
