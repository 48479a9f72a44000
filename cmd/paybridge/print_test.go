package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
	"github.com/paybridge/paybridge/providers/fake"
)

// hostile is provider text that would clear the screen, set the window
// title and rewrite the line above if a terminal got it raw.
const hostile = "\x1b[2J\x1b]0;owned\x07paid"

// escapedHostile is hostile, then a CR, a cursor move and a bidi override,
// as escapeForTerminal shows them.
const escapedHostile = `\u001b[2J\u001b]0;owned\u0007paid\r\u001b[1Aforged line\u202e`

// rawControls reports the first character of out a terminal would act
// on, other than the newlines that end lines.
func rawControls(out string) (string, bool) {
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r == '\u202e') {
			return string(r), true
		}
	}
	return "", false
}

// TestProviderTextIsEscaped: what a provider says reaches check's and
// events' readable output escaped, whatever it holds.
func TestProviderTextIsEscaped(t *testing.T) {
	ns, fk := startNATS(t), startFakes(t)
	startServe(t, fk.serveEnv(), "--nats-url", ns.url)
	follower := start(t, "paybridge", testEnv(), "events", "--nats-url", ns.url, "--all")
	testkit.WaitFor(t, 10*time.Second, "events to start", func() bool {
		return strings.Contains(follower.stderr.String(), "printing all events")
	})
	must(t, fk.muvinai.Add(fake.Payment{ID: "pr-1", Amount: "1", Currency: "EU\x1b[8mR",
		Steps: []fake.Step{{Status: "expired", Detail: hostile + "\r\x1b[1Aforged line\u202e", AmountPaid: "1"}}}))

	out, errOut, code := run(t, testEnv(), "check", "--nats-url", ns.url, "muvinai", "pr-1")
	if code != 0 {
		t.Fatalf("check exited %d: %s%s", code, out, errOut)
	}
	if c, ok := rawControls(out); ok {
		t.Errorf("check printed %q raw:\n%q", c, out)
	}
	for _, want := range []string{`provider status: expired/` + escapedHostile, `amount: 1 EU\u001b[8mR`} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %s:\n%s", want, out)
		}
	}

	testkit.WaitFor(t, 10*time.Second, "events to print the change", func() bool {
		return strings.Contains(follower.stdout.String(), "muvinai pr-1")
	})
	if c, ok := rawControls(follower.stdout.String()); ok {
		t.Errorf("events printed %q raw:\n%q", c, follower.stdout)
	}
	if want := `new → expired (expired/` + escapedHostile + `)`; !strings.Contains(follower.stdout.String(), want) {
		t.Errorf("events output lacks %s:\n%s", want, follower.stdout)
	}
}

// TestErrorRepliesAreEscaped: an error reply's code and message, written
// by whoever answered, are escaped too.
func TestErrorRepliesAreEscaped(t *testing.T) {
	var out strings.Builder
	err := printReply(&out, paybridge.Reply{}, nil, &paybridge.Error{Code: "x\x1b[31m", Message: "no such\r\npayment " + hostile}, false)
	if !errors.Is(err, errAnswered) {
		t.Errorf("printReply returned %v, want errAnswered", err)
	}
	if want := "error: x\\u001b[31m: no such\\r\\npayment \\u001b[2J\\u001b]0;owned\\u0007paid\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}

// TestErrorsAreEscaped: the error paybridge exits with is escaped too, as
// it may quote a server or a provider; here it names a stream holding ESC.
func TestErrorsAreEscaped(t *testing.T) {
	ns := startNATS(t)
	_, stderr, code := run(t, testEnv(), "events", "--nats-url", ns.url, "--stream", "NO\x1b[2JSUCH")
	if c, ok := rawControls(stderr); code != 1 || ok {
		t.Errorf("events exited %d, printing %q raw: %q", code, c, stderr)
	}
	if !strings.Contains(stderr, `NO\u001b[2JSUCH`) {
		t.Errorf("stderr does not name the stream, escaped: %q", stderr)
	}
}

// TestAccountIsPrinted: a merchant account's reply and event name the
// account after the provider; the default account's read as before.
func TestAccountIsPrinted(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for account, want := range map[string]string{"": "coinbar order-1", "shop-a": "coinbar/shop-a order-1"} {
		ev := events.Event{ID: "ev-1", Type: events.TypeStatusChanged, Time: at, Data: events.StatusChanged{
			Provider: "coinbar", Account: account, PaymentID: "order-1", Status: paybridge.StatusPending, ProviderStatus: "PENDING"}}
		if got, line := eventLine(ev), "2026-01-02T03:04:05.000Z "+want+" new → pending (PENDING) id=ev-1"; got != line {
			t.Errorf("event of account %q: %q, want %q", account, got, line)
		}
		reply := paybridge.Reply{Provider: "coinbar", Account: account, PaymentID: "order-1", Status: paybridge.StatusPaid, CheckedAt: at}
		if got := formatReply(reply); !strings.HasPrefix(got, want+": paid unchanged\n") {
			t.Errorf("reply of account %q: %q, want it to begin %q", account, got, want+": paid")
		}
	}
}
