package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/paybridge/paybridge/bridge"
)

// tracingFlags choose where serve exports its spans. Export is off unless
// an endpoint is given: --otel-endpoint, or OpenTelemetry's own
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which
// the exporter reads with the rest of its OTEL_EXPORTER_OTLP_* settings
// (headers, timeout, TLS). The W3C trace context travels either way.
type tracingFlags struct {
	endpoint string // a URL: http://collector:4318, or grpc's http://collector:4317
	protocol string // grpc or http/protobuf
}

func (t *tracingFlags) register(f *flagSet) {
	f.StringVar(&t.endpoint, "otel-endpoint", "", "OTLP base URL to export spans to, e.g. http://collector:4318 (as OTEL_EXPORTER_OTLP_ENDPOINT: HTTP adds /v1/traces); empty: OTEL_EXPORTER_OTLP_ENDPOINT, else no export")
	f.StringVar(&t.protocol, "otel-protocol", "", "OTLP protocol: http/protobuf or grpc (default: OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)")
}

func (t *tracingFlags) validate(f *flagSet) error {
	switch t.protocol {
	case "", "grpc", "http/protobuf":
	default:
		return f.bad("otel-protocol", "want http/protobuf or grpc")
	}
	if t.endpoint != "" && !strings.Contains(t.endpoint, "://") {
		return f.bad("otel-endpoint", "want a URL such as http://collector:4318")
	}
	return nil
}

// enabled reports whether spans are exported: an endpoint is configured
// by the flag or by OpenTelemetry's variables.
func (t *tracingFlags) enabled(lookupEnv func(string) (string, bool)) bool {
	if t.endpoint != "" {
		return true
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if v, ok := lookupEnv(name); ok && v != "" {
			return true
		}
	}
	return false
}

// tracerProvider builds the SDK's provider with a batching OTLP exporter,
// or returns nil when export is off: the bridge then records no spans.
func (t *tracingFlags) tracerProvider(ctx context.Context, lookupEnv func(string) (string, bool), log *slog.Logger) (*sdktrace.TracerProvider, error) {
	if !t.enabled(lookupEnv) {
		return nil, nil
	}
	protocol := t.protocol
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v, ok := lookupEnv(name); protocol == "" && ok {
			protocol = v
		}
	}
	var exp *otlptrace.Exporter
	var err error
	switch protocol {
	case "grpc":
		var opts []otlptracegrpc.Option
		if t.endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpointURL(t.endpoint))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case "", "http/protobuf":
		protocol = "http/protobuf"
		var opts []otlptracehttp.Option
		if t.endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(t.endpoint)))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q: want http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName("paybridge"), semconv.ServiceVersion(bridge.Version))
	log.Info("exporting spans", "protocol", protocol, "endpoint", redactURL(t.endpoint))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// tracesURL reads --otel-endpoint as OTEL_EXPORTER_OTLP_ENDPOINT is read:
// a base URL, to which OTLP/HTTP adds /v1/traces unless it has a path.
func tracesURL(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint
	}
	u.Path = "/v1/traces"
	return u.String()
}

// traceHandler adds the trace_id and span_id of the context a line is
// logged with, so that the log lines of a traced check can be found from
// its trace and the other way round.
type traceHandler struct{ next slog.Handler }

func (h traceHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.next.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.next.WithGroup(name)}
}
