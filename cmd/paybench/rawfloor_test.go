package main

import (
	"testing"
	"time"
)

// --compare with the raw floor measures the raw floor, then the bridge:
// the raw floor reaches paysim with its credentials (one call a check, no
// errors) and the report gives the bridge's throughput over it.
func TestCompareWithRawFloorReportsARatio(t *testing.T) {
	res := runJSON(t, 60*time.Second, "--self", "--bridge", "in-process", "--payments", "100",
		"--duration", "1s", "--warmup", "200ms", "--compare", "--floor-kind", "raw")
	if len(res.Runs) != 2 || res.Runs[0].Name != "raw-floor" || res.Runs[1].Name != "bridge" {
		t.Fatalf("want a raw-floor and a bridge run, got %+v", res.Runs)
	}
	raw := res.Runs[0]
	if raw.Checks < 100 || raw.ChecksPerSecond <= 0 || len(raw.Errors) != 0 {
		t.Errorf("raw floor: want at least 100 checks and no errors, got %d checks, errors %v", raw.Checks, raw.Errors)
	}
	// One call a check, give or take the checks in flight when the
	// counters were read (64 by default): their calls are counted before
	// they complete. A share would fail on a loaded machine, where a short
	// run completes few checks.
	if checks := int64(raw.Checks); raw.ProviderCalls == nil || *raw.ProviderCalls < checks-64 || *raw.ProviderCalls > checks+64 {
		t.Errorf("raw floor: want one paysim call per check (±64 in flight), got %s calls for %d checks", optInt(raw.ProviderCalls), raw.Checks)
	}
	if res.FloorKind != floorRaw || res.BridgeFloor == nil || *res.BridgeFloor <= 0 {
		t.Errorf("want a bridge/raw-floor ratio, got kind %q, ratio %s", res.FloorKind, optFloat(res.BridgeFloor, "%.2f"))
	}
	checkTable(t, &res, "bridge/raw-floor = ")
}
