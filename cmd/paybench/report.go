package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

func writeJSON(w io.Writer, res *result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// writeTable prints the result for people: one row per run, then memory,
// the ratio and the burst.
func writeTable(w io.Writer, res *result) {
	fmt.Fprintf(w, "setup:  %s\nbridge: %s\n", res.Setup, res.Bridge)
	if res.LoadBefore != "" {
		fmt.Fprintf(w, "load average: %s before, %s after\n", res.LoadBefore, res.LoadAfter)
	}
	fmt.Fprintln(w)
	if res.Scale != nil {
		writeScale(w, res.Scale)
		fmt.Fprintln(w)
	}
	if res.Watches != nil {
		writeWatches(w, res.Watches)
	}
	runs := res.Runs
	if res.Prime != nil {
		runs = append([]runResult{*res.Prime}, runs...)
	}
	writeRuns(w, runs)
	for _, r := range res.Runs {
		if r.Added != nil {
			fmt.Fprintf(w, "%s added latency (reply time − paysim handling time), ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (%d matched, %d unmatched)\n",
				r.Name, r.Added.P50, r.Added.P90, r.Added.P99, r.Added.Max, r.Added.Samples, r.AddedUnmatched)
		}
	}
	for _, r := range runs {
		switch c := r.CPUPerCheck; {
		case c != nil && c.NATS != nil:
			fmt.Fprintf(w, "%s CPU per check: bridge process %.0f µs, nats-server process %.0f µs, paybench process (paysim, load) %.0f µs\n",
				r.Name, c.Bridge, *c.NATS, c.World)
		case c != nil:
			fmt.Fprintf(w, "%s CPU per check: bridge process %.0f µs, paybench process (NATS server, paysim, load) %.0f µs\n",
				r.Name, c.Bridge, c.World)
		}
		if r.AllocsPerCheck != nil {
			fmt.Fprintf(w, "%s allocations per check in the bridge process: %.0f (%.0f bytes)\n", r.Name, *r.AllocsPerCheck, *r.AllocBytesPerCheck)
		}
	}
	if res.BridgeFloor != nil {
		fmt.Fprintf(w, "bridge/%s = %.2f", floorRunName(res.FloorKind), *res.BridgeFloor)
		if res.BridgeFloorCPU != nil {
			fmt.Fprintf(w, " (by CPU per check, all processes: %.2f)", *res.BridgeFloorCPU)
		}
		fmt.Fprintln(w)
	}
	if m := res.RSS; m != nil {
		fmt.Fprintf(w, "bridge RSS: idle %.1f MiB", m.IdleMiB)
		if m.PeakMiB != nil {
			fmt.Fprintf(w, ", peak under load %.1f MiB, at end %.1f MiB", *m.PeakMiB, *m.EndMiB)
		}
		fmt.Fprintln(w)
	}
	if b := res.Burst; b != nil {
		fmt.Fprintf(w, "burst: %d concurrent checks of %s → %s provider calls; max latency %.2f ms; errors %s\n",
			b.Checks, b.PaymentID, optInt(b.ProviderCalls), b.Latency.Max, errorList(b.Errors))
	}
	if f := res.Flood; f != nil {
		fmt.Fprintf(w, "flood: %d fire-and-forget checks of %d bytes sent in %.1f s → %d answered, %d dropped, %d dropped unread%s; bridge RSS peak %.1f MiB, %.1f MiB after\n",
			f.Sent, f.Bytes, f.SendSecs, f.Answered, f.Dropped, f.Unread, map[bool]string{true: "", false: " (not all accounted for within 2 min)"}[f.Settled],
			f.RSSPeakMiB, f.RSSEndMiB)
	}
	if res.Profile != "" {
		fmt.Fprintf(w, "CPU profile of the bridge run: %s (go tool pprof -top %s)\n", res.Profile, res.Profile)
	}
	if res.WorldProfile != "" {
		fmt.Fprintf(w, "CPU profile of paybench (NATS server, paysim, load) during the bridge run: %s\n", res.WorldProfile)
	}
}

// writeRuns prints one row per run; nothing when nothing ran.
func writeRuns(w io.Writer, runs []runResult) {
	if len(runs) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tchecks\tchecks/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tcalls/check\tevents\tchanged\tmoved\terrors\t")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t%d\t%d\t%s\t\n",
			r.Name, r.Checks, r.ChecksPerSecond, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max,
			optFloat(r.CallsPerCheck, "%.3f"), optInt(r.Events), r.ChangedReplies, r.StatusesMoved, errorList(r.Errors))
	}
	tw.Flush()
}

// writeScale prints what --scale measured: the fill, then the restart.
func writeScale(w io.Writer, s *scaleResult) {
	f, r := s.Fill, s.Restart
	fmt.Fprintf(w, "fill:    %d settled payments stored in %.1f s (%.0f/s); bucket %d values, %.2f GiB (%.0f bytes a record)\n",
		f.Records, f.Seconds, f.PerSecond, f.StoredValues, gib(f.StoreBytes), f.BytesPerRecord)
	rep := r.LookupReply
	fmt.Fprintf(w, "restart: ready after %.3f s; first lookup answered after %.3f s (attempt %d: %s %s %s %s, from the %s)\n",
		r.ReadySeconds, r.FirstLookupSeconds, r.LookupAttempts, rep.PaymentID, rep.Status, rep.Amount, rep.Currency, rep.Source)
	settled := "not settled"
	if r.CPUSettledAt != nil {
		settled = fmt.Sprintf("settled (< 1%% of a core for 3 s) from %.0f s, %.2f CPU s until then", *r.CPUSettledAt, *r.CPUUntilSettled)
	}
	fmt.Fprintf(w, "first %.0f s: CPU %.2f s, %s; RSS peak %.1f MiB, %.1f MiB at %.0f s\n",
		r.WindowSeconds, r.CPUSeconds, settled, r.RSSPeakMiB, r.RSSEndMiB, r.WindowSeconds)
}

func optFloat(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func optInt(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// errorList is "none" or "code=n,code=n" in code order.
func errorList(errs map[string]int) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s=%d", code, errs[code]))
	}
	return strings.Join(parts, ",")
}

// writeWatches prints what --watches measured: the direct checks, the
// intake, the window of re-checks.
func writeWatches(w io.Writer, r *watchesResult) {
	if d := r.Direct; d != nil {
		fmt.Fprintf(w, "direct: %d checks in %.0f s (%.0f/s), p50 %.2f ms, p99 %.2f ms, errors %s", d.Checks, d.Seconds, d.ChecksPerSecond,
			d.Latency.P50, d.Latency.P99, errorList(d.Errors))
		if c := d.CPUPerCheck; c != nil {
			fmt.Fprintf(w, "; CPU per check: bridge %.0f µs%s, paybench %.0f µs", c.Bridge, natsCPU(c), c.World)
		}
		fmt.Fprintln(w)
	}
	in := r.Intake
	fmt.Fprintf(w, "intake: %d watched checks queued (%d publishes failed) in %.1f s; all taken after %.1f s (%.0f/s); watch stream %d messages, %d fewer than asked; outcomes %s; CPU bridge %.1f s",
		in.Published, in.PublishFailed, in.PublishSeconds, in.Seconds, in.PerSecond, in.Stored, in.Dropped, countList(in.Outcomes), in.BridgeCPUS)
	if in.NATSCPUS != nil {
		fmt.Fprintf(w, ", nats-server %.1f s", *in.NATSCPUS)
	}
	fmt.Fprintln(w)
	win := r.Window
	fmt.Fprintf(w, "re-checks: %d in %.0f s: %.0f/s (the schedule asks %.0f/s); watch stream %d messages at the end; outcomes %s\n",
		win.Rechecks, win.Seconds, win.PerSecond, r.AskedPerSecond, win.Stored, countList(win.Outcomes))
	fmt.Fprintf(w, "watched payments not called within the last step and %s before the window's end: %d of %d\n",
		silentSlack, win.Silent, r.Watches)
	fmt.Fprintf(w, "lag (paysim's side, interval from the previous call against the step): p50 %.3f s, p99 %.3f s, max %.3f s over %d re-checks; %d early, %d first calls\n",
		win.Lag.P50/1000, win.Lag.P99/1000, win.Lag.Max/1000, win.Lag.Samples, win.Early, win.FirstCalls)
	if m := win.MetricLag; m != nil {
		fmt.Fprintf(w, "lag (paybridge_watch_lag_seconds): p50 %.3f s, p99 %.3f s over %.0f re-checks\n", m.P50, m.P99, m.Count)
	}
	if c := win.CPU; c != nil {
		fmt.Fprintf(w, "CPU per re-check: bridge %.0f µs%s, paybench %.0f µs", c.Bridge, natsCPU(c), c.World)
		if d := r.Direct; d != nil && d.CPUPerCheck != nil && d.CPUPerCheck.Bridge > 0 {
			fmt.Fprintf(w, "; bridge re-check/direct check %.2f", c.Bridge/d.CPUPerCheck.Bridge)
		}
		if c.NATS != nil && c.Bridge > 0 {
			fmt.Fprintf(w, "; nats-server/bridge %.2f", *c.NATS/c.Bridge)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "RSS: bridge peak %.1f MiB, %.1f MiB at the end", win.BridgeRSSPeakMiB, win.BridgeRSSEndMiB)
	if win.NATSRSSPeakMiB != nil && win.NATSRSSEndMiB != nil {
		fmt.Fprintf(w, "; nats-server peak %.1f MiB, %.1f MiB at the end", *win.NATSRSSPeakMiB, *win.NATSRSSEndMiB)
	}
	fmt.Fprintln(w)
	for _, p := range []struct{ of, path string }{{"bridge", win.Profile}, {"nats-server", win.NATSProfile}, {"paybench", win.WorldProfile}} {
		if p.path != "" {
			fmt.Fprintf(w, "CPU profile of the %s over the window: %s\n", p.of, p.path)
		}
	}
	if win.ProfileErrors != "" {
		fmt.Fprintf(w, "profiles: %s\n", win.ProfileErrors)
	}
	fmt.Fprintln(w)
}

// natsCPU is ", nats-server N µs" when nats-server ran apart.
func natsCPU(c *cpuPerCheck) string {
	if c.NATS == nil {
		return ""
	}
	return fmt.Sprintf(", nats-server %.0f µs", *c.NATS)
}

// countList is "none" or "key=n,key=n" in key order.
func countList(counts map[string]int64) string {
	m := make(map[string]int, len(counts))
	for k, v := range counts {
		m[k] = int(v)
	}
	return errorList(m)
}
