package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// providerCallsMetric counts the bridge's provider calls, by provider and
// result.
const providerCallsMetric = "paybridge_provider_requests_total"

// scrapeProviderCalls sums every series of the provider calls counter on
// the bridge's /metrics page.
func scrapeProviderCalls(ctx context.Context, url string) (int64, error) {
	samples, err := readMetrics(ctx, url)
	if err != nil {
		return 0, fmt.Errorf("--metrics-url: %w", err)
	}
	return int64(sumSeries(samples, providerCallsMetric)), nil
}

// The Go runtime's counters of heap allocations, which serve's registry
// exports: the bridge process's, when it runs apart from paybench.
const (
	mallocsMetric    = "go_memstats_mallocs_total"
	allocBytesMetric = "go_memstats_alloc_bytes_total"
)

// bridgeProcessMetrics reads the metrics of a bridge that is a process of
// its own (a subprocess, or the one --metrics-url names); false for an
// in-process bridge, whose runtime counters would be paybench's too.
func (b *bench) bridgeProcessMetrics(ctx context.Context) (map[string]float64, bool) {
	url := b.o.metricsURL
	if b.world != nil {
		if _, in := b.world.bridge.(*inProcess); in {
			return nil, false
		}
		url = b.world.bridge.metricsURL()
	}
	if url == "" {
		return nil, false
	}
	samples, err := readMetrics(ctx, url)
	if err != nil {
		fmt.Fprintf(b.log, "paybench: %v\n", err)
		return nil, false
	}
	return samples, true
}

// bridgeMetrics reads every sample the bridge's metrics hold, by series
// (its name and labels as the text format writes them): from its /metrics
// as a subprocess, from its registry in process.
func (b *bench) bridgeMetrics(ctx context.Context) (map[string]float64, error) {
	if br, ok := b.world.bridge.(*inProcess); ok {
		var text bytes.Buffer
		if err := br.metricsText(&text); err != nil {
			return nil, err
		}
		return parseMetrics(&text)
	}
	return readMetrics(ctx, b.world.bridge.metricsURL())
}

// readMetrics reads the samples of a /metrics page.
func readMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the bridge's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the bridge's metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text format: each sample by series.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// sumSeries adds up the samples of name whose labels include every one of
// labels (each as name="value").
func sumSeries(samples map[string]float64, name string, labels ...string) float64 {
	var total float64
next:
	for series, v := range samples {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(series, l) {
				continue next
			}
		}
		total += v
	}
	return total
}

// byLabel adds up the samples of name by the value of one label, over
// the series whose labels include every one of filters (each as
// name="value").
func byLabel(samples map[string]float64, name, label string, filters ...string) map[string]float64 {
	out := map[string]float64{}
next:
	for series, v := range samples {
		if !strings.HasPrefix(series, name+"{") {
			continue
		}
		for _, f := range filters {
			if !strings.Contains(series, f) {
				continue next
			}
		}
		_, rest, ok := strings.Cut(series, label+`="`)
		if !ok {
			continue
		}
		value, _, _ := strings.Cut(rest, `"`)
		out[value] += v
	}
	return out
}
