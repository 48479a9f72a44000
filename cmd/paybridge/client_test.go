package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// TestRequestTimeoutDefaults: check waits by default longer than the
// bridge gives one provider call (30 s) plus its wait for budget (2 s);
// status, which reads only the store, waits 10 s. --timeout wins, and
// --help shows the defaults.
func TestRequestTimeoutDefaults(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	r, _, err := parseCheck([]string{"coinbar", "order-1"}, noEnv, io.Discard)
	must(t, err)
	if r.timeout != 35*time.Second {
		t.Errorf("check --timeout defaults to %s, want 35s", r.timeout)
	}
	r, _, err = parseStatus([]string{"coinbar", "order-1"}, noEnv, io.Discard)
	must(t, err)
	if r.timeout != 10*time.Second {
		t.Errorf("status --timeout defaults to %s, want 10s", r.timeout)
	}
	r, req, err := parseCheck([]string{"--timeout", "2s", "--watch", "coinbar", "order-1"}, noEnv, io.Discard)
	must(t, err)
	if r.timeout != 2*time.Second || !req.Watch || req.Provider != "coinbar" || req.PaymentID != "order-1" {
		t.Errorf("check --timeout 2s --watch coinbar order-1: timeout %s, request %+v", r.timeout, req)
	}
	for command, want := range map[string]string{"check": "(default 35s)", "status": "(default 10s)"} {
		var help bytes.Buffer
		_ = NewMain().Run(t.Context(), []string{command, "--help"}, &help, io.Discard)
		_, entry, _ := strings.Cut(help.String(), "--timeout duration")
		if entry, _, _ = strings.Cut(entry, "\n  --"); !strings.Contains(entry, want) {
			t.Errorf("%s --help does not show --timeout %s:\n%s", command, want, help.String())
		}
	}
}

// An argument the bridge would refuse is refused before any request, and
// printed as the bridge's answer is: the same line or JSON, exit status 1.
// No bridge runs here, so nothing else could have answered.
func TestEmptyArgumentsAreRefusedAsTheBridgeWould(t *testing.T) {
	env := testEnv("PAYBRIDGE_NATS_URL=" + startNATS(t).url)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "", "order-1"}, "error: invalid_request: provider: must be 1 to 64 bytes, got 0\n"},
		{[]string{"status", "--json", "coinbar", ""},
			`{"error":{"code":"invalid_request","message":"payment_id: must be 1 to 256 bytes, got 0","retryable":false}}` + "\n"},
	} {
		out, errOut, code := run(t, env, tc.args...)
		if code != 1 || out != tc.want || errOut != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}
