package main

import (
	"slices"
	"time"
)

// latencyStats are percentiles of a set of durations, in milliseconds.
type latencyStats struct {
	Samples int     `json:"samples"`
	Mean    float64 `json:"mean"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// percentiles sorts ds (in place) and summarises them; nearest rank.
func percentiles(ds []time.Duration) latencyStats {
	if len(ds) == 0 {
		return latencyStats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.999999) - 1
		return ms(ds[max(0, min(i, len(ds)-1))])
	}
	return latencyStats{
		Samples: len(ds),
		Mean:    ms(sum / time.Duration(len(ds))),
		P50:     at(0.50),
		P90:     at(0.90),
		P99:     at(0.99),
		Max:     ms(ds[len(ds)-1]),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// runResult is one measured run of the floor or the bridge.
type runResult struct {
	Name            string         `json:"name"` // floor, bridge or prime
	Checks          int            `json:"checks"`
	Seconds         float64        `json:"seconds"`
	ChecksPerSecond float64        `json:"checks_per_second"`
	Latency         latencyStats   `json:"latency_ms"`
	Added           *latencyStats  `json:"added_latency_ms,omitempty"`
	AddedUnmatched  int            `json:"added_unmatched,omitempty"`
	ProviderCalls   *int64         `json:"provider_calls,omitempty"`
	CallsPerCheck   *float64       `json:"provider_calls_per_check,omitempty"`
	Events          *int64         `json:"events,omitempty"`
	ChangedReplies  int            `json:"changed_replies"`
	StatusesMoved   int64          `json:"statuses_moved"`
	Errors          map[string]int `json:"errors"`
	RSSPeakMiB      *float64       `json:"rss_peak_mib,omitempty"`
	// CPU per check, in microseconds, of the bridge process and of
	// paybench's own (NATS server, paysim, load); with a subprocess bridge.
	CPUPerCheck *cpuPerCheck `json:"cpu_us_per_check,omitempty"`
	// AllocsPerCheck and AllocBytesPerCheck are the bridge process's heap
	// allocations over the run (its go_memstats_mallocs_total and
	// go_memstats_alloc_bytes_total) per check; with a subprocess bridge
	// or --metrics-url, whose process is the bridge's alone.
	AllocsPerCheck     *float64 `json:"bridge_allocs_per_check,omitempty"`
	AllocBytesPerCheck *float64 `json:"bridge_alloc_bytes_per_check,omitempty"`
}

type cpuPerCheck struct {
	Bridge float64 `json:"bridge"`
	// World is paybench's process: the NATS server too, unless it runs
	// apart (NATS).
	World float64 `json:"nats_paysim_load"`
	// NATS is the nats-server process's, with --nats subprocess.
	NATS *float64 `json:"nats_server,omitempty"`
}

func (c cpuPerCheck) total() float64 {
	t := c.Bridge + c.World
	if c.NATS != nil {
		t += *c.NATS
	}
	return t
}

// summarise fills the sample-derived fields of r.
func (r *runResult) summarise(samples []sample, seconds float64) {
	r.Checks, r.Seconds, r.Errors = len(samples), seconds, map[string]int{}
	if seconds > 0 {
		r.ChecksPerSecond = float64(len(samples)) / seconds
	}
	lat := make([]time.Duration, 0, len(samples))
	var added []time.Duration
	for _, s := range samples {
		lat = append(lat, s.latency)
		if s.code != "" {
			r.Errors[s.code]++
		}
		if s.changed {
			r.ChangedReplies++
		}
		if s.matched {
			added = append(added, s.added)
		} else {
			r.AddedUnmatched++
		}
	}
	r.Latency = percentiles(lat)
	if len(added) > 0 {
		a := percentiles(added)
		r.Added = &a
	} else {
		r.AddedUnmatched = 0
	}
}

// counted sets the provider calls and events counted over the run.
func (r *runResult) counted(before, after counters) {
	if before.calls >= 0 && after.calls >= 0 {
		calls := after.calls - before.calls
		r.ProviderCalls = &calls
		if checks := after.checks - before.checks; checks > 0 {
			per := float64(calls) / float64(checks)
			r.CallsPerCheck = &per
		}
	}
	if before.events >= 0 && after.events >= 0 {
		events := after.events - before.events
		r.Events = &events
	}
	r.StatusesMoved = after.moved - before.moved
	if checks := after.checks - before.checks; checks > 0 && before.mallocs >= 0 && after.mallocs >= 0 {
		n := (after.mallocs - before.mallocs) / float64(checks)
		bytes := (after.allocBytes - before.allocBytes) / float64(checks)
		r.AllocsPerCheck, r.AllocBytesPerCheck = &n, &bytes
	}
	if before.cpuOK && after.cpuOK {
		if checks := after.checks - before.checks; checks > 0 {
			per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(checks) }
			r.CPUPerCheck = &cpuPerCheck{
				Bridge: per(after.cpu.bridge - before.cpu.bridge),
				World:  per(after.cpu.world - before.cpu.world),
			}
			if before.cpu.hasNATS && after.cpu.hasNATS {
				n := per(after.cpu.nats - before.cpu.nats)
				r.CPUPerCheck.NATS = &n
			}
		}
	}
}

// counters are the cumulative counts read before and after a run; -1 when
// unknown.
type counters struct {
	checks int64 // completed, as the driver counts them
	calls  int64
	events int64
	moved  int64
	cpu    cpuSplit
	cpuOK  bool
	// mallocs and allocBytes are the bridge process's; -1 when unknown.
	mallocs, allocBytes float64
}

// burstResult is what many concurrent checks of one payment cost.
type burstResult struct {
	PaymentID     string         `json:"payment_id"`
	Checks        int            `json:"checks"`
	ProviderCalls *int64         `json:"provider_calls,omitempty"`
	Latency       latencyStats   `json:"latency_ms"`
	Errors        map[string]int `json:"errors"`
}

// rssReport is the bridge's memory.
type rssReport struct {
	Of      string   `json:"of"`
	IdleMiB float64  `json:"idle_mib"`           // 1 s after ready; with --scale, at the end of --scale-settle
	PeakMiB *float64 `json:"peak_mib,omitempty"` // during the bridge run
	EndMiB  *float64 `json:"end_mib,omitempty"`  // right after it
}

// result is everything paybench measured.
type result struct {
	Setup       string      `json:"setup"`
	Bridge      string      `json:"bridge"`
	LoadBefore  string      `json:"load_average_before,omitempty"`
	LoadAfter   string      `json:"load_average_after,omitempty"`
	Prime       *runResult  `json:"prime,omitempty"`
	Runs        []runResult `json:"runs"`
	BridgeFloor *float64    `json:"bridge_over_floor,omitempty"`
	// FloorKind is the floor measured: client or raw (--floor-kind).
	FloorKind string `json:"floor_kind,omitempty"`
	// BridgeFloorCPU is the floor's CPU per check over the bridge's (all
	// processes): what the throughput ratio would be on otherwise idle
	// cores, where both are CPU-bound. Steadier than the throughput ratio
	// on a shared machine.
	BridgeFloorCPU *float64       `json:"bridge_over_floor_by_cpu,omitempty"`
	Scale          *scaleResult   `json:"scale,omitempty"`
	RSS            *rssReport     `json:"rss,omitempty"`
	Burst          *burstResult   `json:"burst,omitempty"`
	Flood          *floodResult   `json:"flood,omitempty"`
	Watches        *watchesResult `json:"watches,omitempty"`
	Profile        string         `json:"cpu_profile,omitempty"`
	WorldProfile   string         `json:"world_cpu_profile,omitempty"`
}
