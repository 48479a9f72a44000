package client

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"

	"github.com/paybridge/paybridge/events"
)

// traceContext is the W3C Trace Context propagator itself rather than the
// global one, so that the client carries traces with no OpenTelemetry set
// up by the service and never depends on what another library installed.
var traceContext propagation.TraceContext

// The W3C header names, which the CloudEvents distributed-tracing extension
// uses as attribute names too.
const (
	traceParentKey = "traceparent"
	traceStateKey  = "tracestate"
)

// traceHeader is the trace context of the span in ctx as NATS headers, or
// nil when ctx carries none.
func traceHeader(ctx context.Context) nats.Header {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return nil
	}
	h := make(nats.Header, len(carrier))
	for key, value := range carrier {
		h[key] = []string{value}
	}
	return h
}

// withEventTrace returns ctx carrying the event's trace context as the
// remote parent of whatever span a handler starts; an event made outside
// any trace (or with a malformed traceparent) leaves ctx as it is.
func withEventTrace(ctx context.Context, ev events.Event) context.Context {
	if ev.TraceParent == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{traceParentKey: ev.TraceParent, traceStateKey: ev.TraceState})
}
