package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/paybridge/paybridge/internal/testkit"
)

func TestRedactURL(t *testing.T) {
	for raw, want := range map[string]string{
		"nats://tok-SECRET@n1:4222":               "nats://[redacted]@n1:4222",
		"nats://user-SECRET:pw-SECRET@n1:4222":    "nats://[redacted]@n1:4222",
		"wss://u:p%40SECRET@n1/ws?x=1":            "wss://[redacted]@n1/ws?x=1",
		"nats://n1:4222":                          "nats://n1:4222",
		"nats://a%zzSECRET@n1":                    "[redacted]",
		"nats://t1-SECRET@n1, nats://n2:4222":     "nats://[redacted]@n1,nats://n2:4222",
		"tls://n1:4222,nats://u:SECRET@n2:4222":   "tls://n1:4222,nats://[redacted]@n2:4222",
		"nats://u:12/pw-SECRET@n1:4222":           "[redacted]",
		"nats://n1:4222,nats://u:42#pw-SECRET@n2": "nats://n1:4222,[redacted]",
		"nats://u:7?pw-SECRET@n1:4222":            "[redacted]",
		"nats://u:p@ss-SECRET@n1:4222":            "nats://[redacted]@n1:4222",
	} {
		if got := redactURLs(raw); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", raw, got, want)
		}
	}
}

// TestLogsBlankSecrets: whatever carries a configured secret into a log
// line (a library's error, a message, an attribute, a group) has it
// blanked, in both formats of the logger serve uses.
func TestLogsBlankSecrets(t *testing.T) {
	var secrets secretSet
	secrets.add("cb-key-SECRET", "hook-SECRET")
	secrets.add(urlSecrets("nats://tok-SECRET@n1:4222,nats://me:p%40ss-SECRET@n2:4222")...)
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var out bytes.Buffer
			l := (&logFlags{format: format, level: "info"}).logger(&out, &secrets)
			l = l.With("token", "hook-SECRET").WithGroup("g-hook-SECRET")
			l.Warn("dialing nats://tok-SECRET@n1:4222",
				"error", fmt.Errorf("nats: dial nats://me:p%%40ss-SECRET@n2:4222 (p@ss-SECRET): %w", errors.New("refused")),
				"key", "cb-key-SECRET",
				slog.Group("provider", "auth", "Bearer cb-key-SECRET"),
				"request", struct{ Header string }{"SIGNATURE cb-key-SECRET"})
			line := out.String()
			if strings.Contains(line, "SECRET") || strings.Count(line, "[redacted]") < 7 {
				t.Errorf("secrets not blanked:\n%s", line)
			}
			if !strings.Contains(line, "refused") {
				t.Errorf("the error lost what it said:\n%s", line)
			}
		})
	}
}

// A secret that begins with another is blanked whole, whichever was added
// first: blanking the shorter one first would show the longer one's rest.
func TestLongerSecretsAreBlankedWhole(t *testing.T) {
	var secrets secretSet
	secrets.add("me")
	secrets.add("me:pw-SECRET", "me:pw")
	if got := secrets.redact("dial nats://me:pw-SECRET@n1 as me"); got != "dial nats://[redacted]@n1 as [redacted]" {
		t.Errorf("redacted to %q", got)
	}
}

// TestCredentialsInNATSURLsNeverShown: a token or a user and password in
// --nats-url reaches no output of serve (waiting for NATS, connected,
// reconnected, /metrics) nor of check, status and events, which all show
// the URL as nats://[redacted]@host:port.
func TestCredentialsInNATSURLsNeverShown(t *testing.T) {
	for _, c := range []struct {
		name            string
		auth            func(*natsserver.Options)
		userinfo, wrong string
	}{
		{"token", func(o *natsserver.Options) { o.Authorization = "tok-SECRET" }, "tok-SECRET", "wrong-tok-SECRET"},
		{"user and password", func(o *natsserver.Options) { o.Username, o.Password = "user-SECRETNAME", "pw-SECRET" },
			"user-SECRETNAME:pw-SECRET", "user-SECRETNAME:wrong-SECRET"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ns := startNATSWith(t, c.auth)
			port := ns.port()
			shown := strings.Replace(ns.url, "nats://", "nats://[redacted]@", 1)
			good, bad := ns.urlWith(c.userinfo), ns.urlWith(c.wrong)
			ns.shutdown()

			fk := startFakes(t)
			p := start(t, "paybridge", fk.serveEnv(), "serve", "--nats-url", good,
				"--http-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--log-format", "json")
			testkit.WaitFor(t, 10*time.Second, "serve to wait for NATS", func() bool {
				_, ok := p.logged("waiting for NATS")
				return ok
			})
			ns.start(port)
			var ready logLine
			testkit.WaitFor(t, 20*time.Second, "serve to be ready", func() bool {
				var ok bool
				ready, ok = p.logged("paybridge ready")
				return ok
			})
			ns.shutdown()
			ns.start(port)
			testkit.WaitFor(t, 20*time.Second, "serve to reconnect", func() bool {
				_, ok := p.logged("NATS reconnected")
				return ok
			})
			for _, msg := range []string{"waiting for NATS", "paybridge ready", "NATS reconnected"} {
				if l, _ := p.logged(msg); l.URL+l.NATS != shown {
					t.Errorf("%q shows the URL as %q, want %q", msg, l.URL+l.NATS, shown)
				}
			}
			code, metrics := httpGet(t, "http://"+ready.Admin+"/metrics")
			if code != http.StatusOK {
				t.Errorf("/metrics: %d", code)
			}

			outputs := []string{metrics}
			for _, client := range []struct {
				what string
				args []string
			}{
				{"check, no bridge", []string{"check", "--nats-url", good, "--subject", "nobody.listens", "coinbar", "x"}},
				{"status, no bridge", []string{"status", "--nats-url", good, "--subject", "nobody.listens", "coinbar", "x"}},
				{"check, refused", []string{"check", "--nats-url", bad, "coinbar", "x"}},
				{"status, refused", []string{"status", "--nats-url", bad, "coinbar", "x"}},
				{"events, refused", []string{"events", "--nats-url", bad}},
			} {
				stdout, stderr, code := run(t, testEnv(), client.args...)
				if code != 1 || !strings.Contains(stderr, " at "+shown) {
					t.Errorf("%s: exit %d, stderr %q; want 1 and the URL shown as %s", client.what, code, stderr, shown)
				}
				outputs = append(outputs, stdout, stderr)
			}
			if code := p.stop(); code != 0 {
				t.Errorf("serve exited %d", code)
			}
			noSecrets(t, append(outputs, p.stdout.String(), p.stderr.String())...)
		})
	}
}

// BenchmarkRedactTenThousandAccounts: a log line blanked against the
// secrets of 10,000 merchant accounts (a key and a token each).
func BenchmarkRedactTenThousandAccounts(b *testing.B) {
	values := make([]string, 0, 20000)
	for i := range 10000 {
		values = append(values, fmt.Sprintf("account-%05d-api-key-0123456789abcdef", i), fmt.Sprintf("account-%05d-token-fedcba9876543210", i))
	}
	var s secretSet
	s.add(values...)
	line := `time=2026-12-06T21:00:00Z level=INFO msg="check done" provider=coinbar account=shop-42 payment_id=order-1 status=paid took=12ms`
	s.redact(line) // the replacer is built on first use
	b.ResetTimer()
	for b.Loop() {
		if s.redact(line) != line {
			b.Fatal("nothing to blank, yet the line changed")
		}
	}
}
