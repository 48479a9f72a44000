package main

import (
	"testing"
	"time"
)

// --watches end to end, small: every watched check goes through the
// durable intake and becomes a watch, none is dropped, and the watches
// are re-checked on their schedule within the window.
func TestWatchesMeasuresTheIntakeAndTheReChecks(t *testing.T) {
	res := runJSON(t, 2*time.Minute, "--self", "--bridge", "in-process", "--nats", "in-process",
		"--watches", "200", "--watch-schedule", "1s", "--watch-direct", "1s", "--duration", "3s", "--warmup", "500ms")
	w := res.Watches
	if w == nil {
		t.Fatalf("no watches result: %+v", res)
	}
	if w.AskedPerSecond != 200 || w.Direct == nil || w.Direct.Checks < 100 || len(w.Direct.Errors) != 0 {
		t.Errorf("want direct checks at the asked 200/s without errors first, got %+v", w.Direct)
	}
	in := w.Intake
	if in.Published != 200 || in.PublishFailed != 0 || in.Stored != 200 || in.Dropped != 0 || in.Seconds <= 0 {
		t.Errorf("want 200 watches stored from 200 queued checks, none dropped, got %+v", in)
	}
	win := w.Window
	if win.Rechecks < 200 || win.Lag.Samples < 200 || win.FirstCalls != 0 || win.Stored < 200 || win.Silent != 0 {
		t.Errorf("want every watch re-checked in the window, each after a call before it, got %+v", win)
	}
	if win.Lag.P50 < 0 || win.Lag.P99 > 5000 || win.Early != 0 {
		t.Errorf("re-checks far from their schedule: lag %+v, %d early", win.Lag, win.Early)
	}
	if win.MetricLag == nil || win.MetricLag.Count < 200 {
		t.Errorf("want the bridge's lag histogram over the window, got %+v", win.MetricLag)
	}
	checkTable(t, &res, "intake: 200 watched checks queued", "watch stream 200 messages, 0 fewer than asked", "re-checks:", "before the window's end: 0 of 200", "lag (paysim's side")
}
