package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// collector is an OTLP/HTTP trace receiver: it keeps the spans posted to
// /v1/traces.
type collector struct {
	mu    sync.Mutex
	spans map[string][]string // trace id → span names
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
		http.Error(w, "not an OTLP trace export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				id := hex.EncodeToString(s.TraceId)
				c.spans[id] = append(c.spans[id], s.Name)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(nil)
}

func (c *collector) of(traceID string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans[traceID]...)
}

// serve with an OTLP endpoint exports the spans of a traced check in the
// caller's trace, and its log lines carry the trace and span ids.
func TestServeExportsTheSpansOfATracedCheck(t *testing.T) {
	col := &collector{spans: map[string][]string{}}
	otlp := httptest.NewServer(col)
	t.Cleanup(otlp.Close)
	ns := startNATS(t)
	fk := startFakes(t)
	must(t, fk.coinbar.Add(fake.Payment{ID: "traced-1", Amount: "8.99", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}))
	s := startServe(t, fk.serveEnv(), "--nats-url", ns.url, "--otel-endpoint", otlp.URL)

	nc, err := nats.Connect(ns.url)
	must(t, err)
	defer nc.Close()
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, id := range []string{"traced-1", "nobody"} {
		msg := nats.NewMsg("payments.check")
		msg.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
		msg.Data = []byte(`{"provider":"coinbar","payment_id":"` + id + `"}`)
		if _, err := nc.RequestMsg(msg, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	// The refusal of the unknown payment is logged in the trace. The line
	// is written before the reply is sent, but read from serve's stderr
	// by a goroutine of its own.
	var refused struct {
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	testkit.WaitFor(t, 5*time.Second, "the refusal's log line", func() bool {
		for _, line := range s.stderr.Lines() {
			if strings.Contains(line, `"request refused"`) {
				must(t, json.Unmarshal([]byte(line), &refused))
				return true
			}
		}
		return false
	})
	if refused.TraceID != traceID || len(refused.SpanID) != 16 {
		t.Fatalf("the refusal's log line has trace %q, span %q:\n%s", refused.TraceID, refused.SpanID, s.stderr)
	}
	if code := s.stop(); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	got := strings.Join(col.of(traceID), ",")
	for _, span := range []string{"paybridge.check", "paybridge.provider_call", "HTTP GET", "paybridge.kv.compare_and_set", "paybridge.publish"} {
		if !strings.Contains(got, span) {
			t.Fatalf("span %s not exported in the caller's trace; got %s", span, got)
		}
	}
}

func TestTracesURLAddsTheSignalPath(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318":          "http://collector:4318/v1/traces",
		"http://collector:4318/":         "http://collector:4318/v1/traces",
		"https://otel.example/custom/v1": "https://otel.example/custom/v1",
	} {
		if got := tracesURL(in); got != want {
			t.Errorf("tracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}
