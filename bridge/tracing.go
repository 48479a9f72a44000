package bridge

import (
	"context"
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/paybridge/paybridge"
)

// tracing is how the bridge takes part in a trace (docs/contract.md,
// "Tracing"). The W3C trace context always travels: a check carrying a
// traceparent header continues that trace, and the provider request and
// the event it leads to carry it on, whether spans are recorded or not.
// Spans are recorded only when the TracerProvider records them.
type tracing struct {
	tracer trace.Tracer
	on     bool // spans are recorded
	// w3c is the W3C trace context propagator, used directly rather than
	// through OpenTelemetry's global, so that propagation is on without
	// any set-up and does not depend on what else the process installs.
	w3c propagation.TraceContext
}

// tracerName names the bridge's spans' instrumentation scope.
const tracerName = "github.com/paybridge/paybridge/bridge"

func newTracing(tp trace.TracerProvider) tracing {
	if tp == nil {
		return tracing{tracer: noop.NewTracerProvider().Tracer(tracerName)}
	}
	return tracing{tracer: tp.Tracer(tracerName), on: true}
}

// start starts a span under ctx's. With tracing off it starts none: the
// caller's span context (a traceparent received, if any) is all that
// travels, and a check pays nothing for spans nobody records.
// Attributes go on with SetAttributes under "if t.on", so that a check
// builds none when nobody records them.
func (t tracing) start(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if !t.on {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tracer.Start(ctx, name, trace.WithSpanKind(kind))
}

// continued returns ctx carrying the trace context of a request's
// headers, if it has one.
func (t tracing) continued(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return t.w3c.Extract(ctx, natsCarrier(h))
}

// traceContext returns ctx's trace context as the traceparent and
// tracestate values, empty outside any trace.
func (t tracing) traceContext(ctx context.Context) (traceparent, tracestate string) {
	c := propagation.MapCarrier{}
	t.w3c.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// natsCarrier reads and writes W3C trace context in NATS headers. NATS
// header names are case-sensitive; clients write traceparent in any case,
// so reading ignores case.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	for k, v := range c {
		if len(v) > 0 && strings.EqualFold(k, key) {
			return v[0]
		}
	}
	return ""
}

func (c natsCarrier) Set(key, value string) { c[key] = []string{value} }

func (c natsCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Span attributes: what a span is about. Only the payment a span serves
// is named, and never a credential.
var (
	attrProvider  = attribute.Key("paybridge.provider")
	attrPaymentID = attribute.Key("paybridge.payment_id")
	attrOutcome   = attribute.Key("paybridge.outcome")
	attrErrorCode = attribute.Key("paybridge.error_code")
	// attrExpectedRevision is the revision a compare-and-set expects,
	// attrConflict whether another writer came first.
	attrExpectedRevision = attribute.Key("paybridge.kv.expected_revision")
	attrConflict         = attribute.Key("paybridge.kv.conflict")
	attrEventType        = attribute.Key("cloudevents.event_type")
)

// endSpan ends span with err's code, when there is one, as its error.
func endSpan(span trace.Span, err error) {
	if err != nil {
		code := paybridge.ErrorCode(err)
		span.SetAttributes(attrErrorCode.String(string(code)))
		span.SetStatus(codes.Error, string(code))
	}
	span.End()
}
