package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// floodResult is what a flood of large fire-and-forget checks cost the
// bridge.
type floodResult struct {
	Sent       int     `json:"sent"`
	Bytes      int     `json:"bytes_each"`
	SendSecs   float64 `json:"send_seconds"`
	Dropped    int64   `json:"dropped"`        // past a provider's queue
	Unread     int64   `json:"dropped_unread"` // by the NATS client, the intake's buffer full
	Answered   int64   `json:"answered"`
	RSSPeakMiB float64 `json:"rss_peak_mib"`
	RSSEndMiB  float64 `json:"rss_end_mib"`
	Settled    bool    `json:"settled"` // every check accounted for before the timeout
}

// flood publishes o.flood fire-and-forget checks of the pool's payments,
// each padded with white space to o.floodBytes (64 KiB are allowed), as
// fast as NATS takes them, then follows the bridge's /metrics until each
// is answered or dropped, and reports the bridge's peak RSS meanwhile.
func (b *bench) flood(ctx context.Context) (*floodResult, error) {
	metrics := b.world.bridge.metricsURL()
	if metrics == "" || b.rss == nil {
		return nil, fmt.Errorf("--flood needs --self with the bridge as a subprocess")
	}
	fmt.Fprintf(b.log, "paybench: flood of %d fire-and-forget checks of %d bytes\n", b.o.flood, b.o.floodBytes)
	before, err := scrapeRequests(ctx, metrics)
	if err != nil {
		return nil, err
	}
	b.rss.takePeak()
	b.pool.restart()
	res := &floodResult{Sent: b.o.flood, Bytes: b.o.floodBytes}
	start := time.Now()
	for range b.o.flood {
		p, err := b.pool.take()
		if err != nil {
			return nil, err
		}
		body := fmt.Appendf(nil, `{"provider":%q,"payment_id":%q}`, p.provider, p.id)
		if pad := b.o.floodBytes - len(body); pad > 0 {
			body = append(bytes.Repeat([]byte(" "), pad), body...)
		}
		if err := b.nc.Publish(b.o.checkSubject, body); err != nil {
			return nil, err
		}
	}
	if err := b.nc.FlushTimeout(time.Minute); err != nil {
		return nil, err
	}
	res.SendSecs = time.Since(start).Seconds()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		now, err := scrapeRequests(ctx, metrics)
		if err != nil {
			return nil, err
		}
		d := now.minus(before)
		res.Dropped, res.Unread, res.Answered = d.dropped, d.unread, d.answered
		if res.Settled = d.dropped+d.unread+d.answered >= int64(b.o.flood); res.Settled {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.RSSPeakMiB = mib(b.rss.takePeak())
	if rss, err := readRSS(b.world.bridge.pid()); err == nil {
		res.RSSEndMiB = mib(rss)
	}
	return res, nil
}

// requestCounts are the bridge's intake counters.
type requestCounts struct{ answered, dropped, unread int64 }

func (c requestCounts) minus(o requestCounts) requestCounts {
	return requestCounts{c.answered - o.answered, c.dropped - o.dropped, c.unread - o.unread}
}

// scrapeRequests reads paybridge_requests_total (by whether the outcome is
// dropped) and paybridge_requests_unread_total from /metrics.
func scrapeRequests(ctx context.Context, url string) (requestCounts, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return requestCounts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return requestCounts{}, fmt.Errorf("reading the bridge's metrics: %w", err)
	}
	defer resp.Body.Close()
	var c requestCounts
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		series, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(series, "paybridge_requests_unread_total"):
			c.unread += int64(v)
		case strings.HasPrefix(series, "paybridge_requests_total{") && strings.Contains(series, `outcome="dropped"`):
			c.dropped += int64(v)
		case strings.HasPrefix(series, "paybridge_requests_total{"):
			c.answered += int64(v)
		}
	}
	return c, sc.Err()
}
