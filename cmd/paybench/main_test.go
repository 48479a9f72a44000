package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// A short --self run against an in-process bridge: the floor and the
// bridge are both measured, statuses move and are announced, nothing
// fails, and one provider call serves each check.
func TestSelfRunMeasuresFloorAndBridge(t *testing.T) {
	res := runJSON(t, 60*time.Second, "--self", "--bridge", "in-process", "--payments", "100",
		"--duration", "1s", "--warmup", "200ms", "--change-share", "0.1",
		"--compare", "--latency-added", "--rate", "300", "--burst", "50")
	if len(res.Runs) != 2 || res.Runs[0].Name != "floor" || res.Runs[1].Name != "bridge" {
		t.Fatalf("want a floor and a bridge run, got %+v", res.Runs)
	}
	if res.Prime == nil || res.Prime.Checks != 100 || res.Prime.Events == nil || *res.Prime.Events != 100 {
		t.Errorf("priming 100 payments should be 100 checks, each a first sight with its event: %+v", res.Prime)
	}
	for _, r := range res.Runs {
		if r.Checks < 100 || r.ChecksPerSecond <= 0 || r.Latency.P50 <= 0 || r.Latency.P99 < r.Latency.P50 {
			t.Errorf("%s: implausible counts or latencies: %+v", r.Name, r)
		}
		if len(r.Errors) != 0 {
			t.Errorf("%s: errors %v", r.Name, r.Errors)
		}
		if r.CallsPerCheck == nil || *r.CallsPerCheck < 0.9 || *r.CallsPerCheck > 1.1 {
			t.Errorf("%s: want about one provider call per check, got %v", r.Name, optFloat(r.CallsPerCheck, "%.3f"))
		}
		if r.Added == nil || r.Added.P50 <= 0 || r.Added.P50 > r.Latency.P50 {
			t.Errorf("%s: added latency must be positive and below the reply time: %+v", r.Name, r.Added)
		}
		if r.StatusesMoved == 0 {
			t.Errorf("%s: paysim moved no status with --change-share 0.1", r.Name)
		}
	}
	bridge := res.Runs[1]
	if bridge.Events == nil || *bridge.Events == 0 || bridge.ChangedReplies == 0 {
		t.Errorf("moved statuses must be announced: events %s, changed replies %d", optInt(bridge.Events), bridge.ChangedReplies)
	}
	if floor := res.Runs[0]; floor.Events == nil || *floor.Events != 0 {
		t.Errorf("the floor publishes nothing, got events %s", optInt(floor.Events))
	}
	if res.BridgeFloor == nil || *res.BridgeFloor <= 0 {
		t.Errorf("want a bridge/floor ratio, got %v", optFloat(res.BridgeFloor, "%.2f"))
	}
	if res.RSS == nil || res.RSS.IdleMiB <= 0 || res.RSS.PeakMiB == nil || *res.RSS.PeakMiB <= 0 {
		t.Errorf("want idle and peak memory, got %+v", res.RSS)
	}
	if b := res.Burst; b == nil || b.Checks != 50 || len(b.Errors) != 0 || b.ProviderCalls == nil || *b.ProviderCalls < 1 || *b.ProviderCalls > 50 {
		t.Errorf("burst of 50: %+v", res.Burst)
	}

	checkTable(t, &res, "prime", "floor", "bridge", "bridge/floor = ", "added latency", "burst: 50 concurrent checks")
}

func TestBadFlagsAreUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "exactly one of --self and --nats-url"},
		{[]string{"--self", "--nats-url", "nats://127.0.0.1:4222"}, "exactly one of --self and --nats-url"},
		{[]string{"--self", "--payments", "0"}, "--payments must be at least 1"},
		{[]string{"--self", "--provider", "paypal"}, `--provider must be all or provider names separated by commas`},
		{[]string{"--self", "--provider", "coinbar,coinbar"}, `each once, got "coinbar,coinbar"`},
		{[]string{"--self", "--change-share", "1.5"}, "--change-share must be between 0 and 1"},
		{[]string{"--self", "--floor", "--compare"}, "--floor and --compare exclude each other"},
		{[]string{"--self", "--floor-kind", "fast", "--compare"}, `--floor-kind must be client or raw, got "fast"`},
		{[]string{"--self", "--floor-kind", "raw"}, "--floor-kind raw needs --floor or --compare"},
		{[]string{"--self", "--bridge", "docker"}, `--bridge must be subprocess or in-process, got "docker"`},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--change-share", "0.1"}, "--change-share needs --self"},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--latency-added"}, "--latency-added needs --self"},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--compare"}, "need --paysim-url"},
		{[]string{"--self", "--scale", "-1"}, "--scale must not be negative"},
		{[]string{"--self", "--scale-settle", "5s"}, "--scale-settle needs --scale"},
		{[]string{"--nats-url", "nats://127.0.0.1:4222", "--scale", "10"}, "--scale needs --self"},
		{[]string{"--self", "--scale", "10", "--bridge", "in-process"}, "it needs --bridge subprocess"},
		{[]string{"--self", "--scale", "10", "--floor"}, "--scale and --floor exclude each other"},
		{[]string{"--self", "--scale", "10", "--scale-settle", "0s"}, "--scale-settle must be positive"},
		{[]string{"--self", "extra"}, `unexpected argument "extra"`},
	} {
		_, err := parseFlags(tc.args, &bytes.Buffer{})
		if !cli.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: want a usage error containing %q, got %v", tc.args, tc.want, err)
		}
	}
}

// Against an external bridge the default change share is dropped, since
// paybench cannot move that paysim's payments; --latency-added sets the
// rate it is defined at; --scale sets the load its window is defined
// with, unless given.
func TestFlagDefaultsFollowTheMode(t *testing.T) {
	o, err := parseFlags([]string{"--nats-url", "nats://127.0.0.1:4222"}, &bytes.Buffer{})
	if err != nil || o.changeShare != 0 {
		t.Errorf("external: change share %v, err %v; want 0, nil", o.changeShare, err)
	}
	o, err = parseFlags([]string{"--self", "--latency-added"}, &bytes.Buffer{})
	if err != nil || o.rate != 1000 {
		t.Errorf("--latency-added: rate %v, err %v; want 1000, nil", o.rate, err)
	}
	o, err = parseFlags([]string{"--self", "--scale", "10"}, &bytes.Buffer{})
	if err != nil || o.payments != 100000 || o.rate != 1000 {
		t.Errorf("--scale: want 100000 payments at 1000 checks/s by default, got %d at %v (%v)", o.payments, o.rate, err)
	}
	o, err = parseFlags([]string{"--self", "--scale", "10", "--payments", "50", "--rate", "0"}, &bytes.Buffer{})
	if err != nil || o.payments != 50 || o.rate != 0 {
		t.Errorf("--scale with --payments 50 --rate 0: got %d at %v (%v)", o.payments, o.rate, err)
	}
}

// A bridge that cannot start is an error, and the world it leaves is
// closed without a bridge to stop.
func TestBridgeThatCannotStartIsAnError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	missing := t.TempDir() + "/no-such-paybridge"
	err := run(ctx, []string{"--self", "--bridge-bin", missing, "--duration", "0"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "starting "+missing) {
		t.Errorf("want the failed start of %s, got %v", missing, err)
	}
}

// --provider takes all (both, its older name) or names in any order.
func TestProviderFlag(t *testing.T) {
	for text, want := range map[string][]string{
		"all": providerList(all.List), "both": providerList(all.List),
		"muvinai": {"muvinai"}, "muvinai, coinbar": {"muvinai", "coinbar"},
	} {
		o, err := parseFlags([]string{"--self", "--provider", text}, &bytes.Buffer{})
		if err != nil || !slices.Equal(providerList(o.providers), want) {
			t.Errorf("--provider %q: %v, %v; want %v", text, providerList(o.providers), err, want)
		}
	}
}

func providerList(list []providers.Descriptor) []string {
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
	}
	return names
}

// A bridge in a process of its own reports its allocations per check, read
// from its runtime's counters on /metrics; the idle bridge of a floor run
// reports none.
func TestSubprocessBridgeReportsItsAllocations(t *testing.T) {
	res := runJSON(t, 3*time.Minute, "--self", "--bridge", "subprocess", "--payments", "100",
		"--duration", "1s", "--warmup", "200ms", "--compare", "--floor-kind", "raw")
	if len(res.Runs) != 2 || res.Runs[1].Name != "bridge" {
		t.Fatalf("want a floor and a bridge run, got %+v", res.Runs)
	}
	if floor := res.Runs[0]; floor.AllocsPerCheck != nil {
		t.Errorf("the floor run reports the idle bridge's allocations: %v", *floor.AllocsPerCheck)
	}
	b := res.Runs[1]
	if b.AllocsPerCheck == nil || *b.AllocsPerCheck < 10 || *b.AllocsPerCheck > 10000 || b.AllocBytesPerCheck == nil || *b.AllocBytesPerCheck < *b.AllocsPerCheck {
		t.Errorf("bridge: want a plausible count of allocations per check, got %s (%s bytes)",
			optFloat(b.AllocsPerCheck, "%.1f"), optFloat(b.AllocBytesPerCheck, "%.0f"))
	}
	checkTable(t, &res, "bridge allocations per check in the bridge process: ")
}
