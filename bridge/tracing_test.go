package bridge_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers"
)

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

// checkInTrace sends a check carrying the caller's W3C trace context.
func (e *env) checkInTrace(provider, id string) reply {
	e.t.Helper()
	msg := nats.NewMsg("payments.check")
	msg.Header.Set("traceparent", "00-"+callerTraceID+"-"+callerSpanID+"-01")
	msg.Header.Set("tracestate", "caller=1")
	var err error
	msg.Data, err = json.Marshal(map[string]any{"provider": provider, "payment_id": id})
	must(e.t, err)
	resp, err := e.nc.RequestMsg(msg, 10*time.Second)
	must(e.t, err)
	return e.decodeReply(resp)
}

// A check carrying a traceparent continues that trace: the provider request
// and the event carry it on, and the spans (check, provider call, its HTTP
// attempt, the compare-and-set, the publish) hang under the caller's span,
// in either content mode.
func TestCheckContinuesTheCallersTrace(t *testing.T) {
	for _, mode := range []events.Mode{events.Binary, events.Structured} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t)
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			t.Cleanup(func() { tp.Shutdown(t.Context()) })
			e.startBridge(bridge.Config{TracerProvider: tp, EventMode: mode}, e.providers(providers.WithTracerProvider(tp))...)
			e.addCoinbar("traced", "SUCCESS", "")
			if r := e.checkInTrace("coinbar", "traced"); r.OK == nil || !r.OK.Changed {
				t.Fatalf("check: %s", r.Raw)
			}
			reqs := e.coinbar.Requests()
			if got := reqs[len(reqs)-1].Header.Get("Traceparent"); !strings.Contains(got, callerTraceID) {
				t.Fatalf("the provider request's traceparent is %q", got)
			}
			testkit.WaitFor(t, 5*time.Second, "the event", func() bool { return len(e.eventsFor("traced")) == 1 })
			if ev := e.eventsFor("traced")[0]; !strings.Contains(ev.TraceParent, callerTraceID) || ev.TraceState != "caller=1" {
				t.Fatalf("event trace context %q %q", ev.TraceParent, ev.TraceState)
			}

			byName := map[string]sdktrace.ReadOnlySpan{}
			for _, s := range spans.GetSpans().Snapshots() {
				if s.SpanContext().TraceID().String() != callerTraceID {
					t.Fatalf("span %s is in trace %s", s.Name(), s.SpanContext().TraceID())
				}
				byName[s.Name()] = s
			}
			for child, parent := range map[string]string{
				"paybridge.provider_call":      "paybridge.check",
				"HTTP GET":                     "paybridge.provider_call",
				"paybridge.kv.compare_and_set": "paybridge.check",
				"paybridge.publish":            "paybridge.check",
			} {
				c, p := byName[child], byName[parent]
				if c == nil || p == nil {
					t.Fatalf("missing span %s or %s among %v", child, parent, keys(byName))
				}
				if c.Parent().SpanID() != p.SpanContext().SpanID() {
					t.Errorf("%s is not a child of %s", child, parent)
				}
			}
			// The provider sees the HTTP span as the request's parent.
			if got, span := reqs[len(reqs)-1].Header.Get("Traceparent"), byName["HTTP GET"].SpanContext().SpanID().String(); !strings.Contains(got, "-"+span+"-") {
				t.Errorf("the provider request's traceparent %q does not name the HTTP span %s", got, span)
			}
			check := byName["paybridge.check"]
			if check.Parent().SpanID().String() != callerSpanID || !check.Parent().IsRemote() {
				t.Fatalf("the check span's parent is %s, not the caller's span", check.Parent().SpanID())
			}
			attrs := map[string]string{}
			for _, a := range check.Attributes() {
				attrs[string(a.Key)] = a.Value.Emit()
			}
			if attrs["paybridge.provider"] != "coinbar" || attrs["paybridge.outcome"] != "changed" {
				t.Fatalf("check span attributes %v", attrs)
			}
			for _, s := range byName {
				for _, a := range s.Attributes() {
					if strings.Contains(a.Value.Emit(), "SECRET") {
						t.Fatalf("span %s carries a secret in %s", s.Name(), a.Key)
					}
				}
			}
		})
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// With no spans recorded, the trace context still travels: the provider
// request and the event continue the caller's trace.
func TestTraceContextTravelsWithTracingOff(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{})
	e.addMuvinai("untraced", "approved", "correct", "15000.50")
	if r := e.checkInTrace("muvinai", "untraced"); r.OK == nil {
		t.Fatalf("check: %s", r.Raw)
	}
	reqs := e.muvinai.Requests()
	if got := reqs[len(reqs)-1].Header.Get("Traceparent"); !strings.Contains(got, callerTraceID) {
		t.Fatalf("the provider request's traceparent is %q", got)
	}
	testkit.WaitFor(t, 5*time.Second, "the event", func() bool { return len(e.eventsFor("untraced")) == 1 })
	if ev := e.eventsFor("untraced")[0]; !strings.HasPrefix(ev.TraceParent, "00-"+callerTraceID+"-") {
		t.Fatalf("event traceparent %q", ev.TraceParent)
	}
	// A check outside any trace makes no trace context up.
	e.addMuvinai("plain", "approved", "correct", "1")
	e.mustCheck("muvinai", "plain")
	testkit.WaitFor(t, 5*time.Second, "the event", func() bool { return len(e.eventsFor("plain")) == 1 })
	if ev := e.eventsFor("plain")[0]; ev.TraceParent != "" {
		t.Fatalf("an untraced check's event carries %q", ev.TraceParent)
	}
}
