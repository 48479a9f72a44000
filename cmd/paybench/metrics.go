package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// providerCallsMetric counts the bridge's provider calls, by provider and
// result.
const providerCallsMetric = "paybridge_provider_requests_total"

// scrapeProviderCalls sums every series of the provider calls counter on
// the bridge's /metrics page (Prometheus text format).
func scrapeProviderCalls(ctx context.Context, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, fmt.Errorf("--metrics-url: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("--metrics-url: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("--metrics-url: %s", resp.Status)
	}
	var total float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, providerCallsMetric+"{") && !strings.HasPrefix(line, providerCallsMetric+" ") {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("--metrics-url: bad sample %q", line)
		}
		total += v
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("--metrics-url: %w", err)
	}
	return int64(total), nil
}
