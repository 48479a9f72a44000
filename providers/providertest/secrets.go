package providertest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// logsAndErrorsHoldNoCredentials captures, as text and as JSON, the debug
// logs of a call that fails after its retries: the failure is logged, and
// no credential is in the logs or the error.
func logsAndErrorsHoldNoCredentials(t *testing.T, h Harness) {
	handlers := []struct {
		status     int
		newHandler func(io.Writer, *slog.HandlerOptions) slog.Handler
	}{
		{503, func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }},
		{502, func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }},
	}
	for _, c := range handlers {
		var buf bytes.Buffer
		logger := slog.New(c.newHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		fx := h.Start(t, providers.WithLogger(logger))
		fx.Add(t, "p1", h.Pending)
		fx.Fault(t, "p1", fake.Fault{Times: 10, Status: c.status})
		_, err := fx.Client.Check(context.Background(), "p1")
		WantCode(t, err, paybridge.CodeProviderUnavailable)
		if n := fx.Engine.Calls("p1"); n != 4 {
			t.Fatalf("HTTP %d: fake saw %d calls, want 4 (3 retries)", c.status, n)
		}
		logs := buf.String()
		if !strings.Contains(logs, "retrying") || !strings.Contains(logs, "p1") {
			t.Fatalf("HTTP %d: the failing call was not logged:\n%s", c.status, logs)
		}
		for _, secret := range h.Secrets {
			if strings.Contains(logs, secret) {
				t.Fatalf("credential %q leaked into the logs:\n%s", secret, logs)
			}
		}
		noSecrets(t, h, err)
	}
}

// noSecrets fails the test now if err shows one of the harness's
// credentials.
func noSecrets(t *testing.T, h Harness, err error) {
	t.Helper()
	for _, secret := range h.Secrets {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("credential %q leaked into the error %q", secret, err)
		}
	}
}
