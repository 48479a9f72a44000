package providertest

import (
	"context"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// retriesA503 answers 503 once, with the provider's own error body or a
// load balancer's HTML page; the retry gets the payment.
func retriesA503(t *testing.T, h Harness) {
	fx := h.Start(t)
	for id, body := range map[string][]byte{"own-body": nil, "html-page": fake.HTMLPage(503)} {
		fx.Add(t, id, h.Paid)
		fx.Fault(t, id, fake.Fault{Times: 1, Status: 503, Body: body})
		got, err := fx.Client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got.Status != paybridge.StatusPaid {
			t.Fatalf("%s: status %s, want paid", id, got.Status)
		}
		if n := fx.Engine.Calls(id); n != 2 {
			t.Fatalf("%s: fake saw %d calls, want 2", id, n)
		}
	}
}

// honoursRetryAfter: a Retry-After that fits in the time the call has
// left is waited for, then the call is retried.
func honoursRetryAfter(t *testing.T, h Harness) {
	fx := h.Start(t)
	fx.Add(t, "p1", h.Pending)
	fx.Fault(t, "p1", fake.Fault{Times: 1, Status: 429, RetryAfter: "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := fx.Client.Check(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("took %s, want about the 1s Retry-After asked", elapsed)
	}
	if n := fx.Engine.Calls("p1"); n != 2 {
		t.Fatalf("fake saw %d calls, want 2", n)
	}
}

// retriesStop: an answer that does not change ends as its code after as
// many calls as the policy allows: a 429 or 5xx after three retries, a 400
// or 404 (in the provider's own words) at once.
func retriesStop(t *testing.T, h Harness) {
	fx := h.Start(t)
	cases := []struct {
		id     string
		status int // of a fault that never ends; 0 for none
		code   paybridge.Code
		calls  int
	}{
		{"p429", 429, paybridge.CodeProviderRateLimited, 4},
		{"p503", 503, paybridge.CodeProviderUnavailable, 4},
		{"p400", 400, paybridge.CodeProviderBadResponse, 1},
		{"nobody", 0, paybridge.CodePaymentNotFound, 1},
	}
	for _, c := range cases {
		if c.status != 0 {
			fx.Add(t, c.id, h.Pending)
			fx.Fault(t, c.id, fake.Fault{Times: 10, Status: c.status})
		}
		_, err := fx.Client.Check(context.Background(), c.id)
		WantCode(t, err, c.code)
		noSecrets(t, h, err)
		if n := fx.Engine.Calls(c.id); n != c.calls {
			t.Errorf("%s: fake saw %d calls, want %d", c.id, n, c.calls)
		}
	}
}

// waitsPastTheDeadlineAreNotStarted: when the wait before a retry, asked
// by Retry-After or chosen by the backoff, is longer than the call has
// left, the call ends at once after one request and its status decides
// the answer, rather than sleeping into provider_timeout.
func waitsPastTheDeadlineAreNotStarted(t *testing.T, h Harness) {
	cases := []struct {
		name       string
		status     int
		retryAfter string
		backoff    providers.HTTPOption
		code       paybridge.Code
	}{
		{"429 Retry-After 5", 429, "5", nil, paybridge.CodeProviderRateLimited},
		{"503 Retry-After 5", 503, "5", nil, paybridge.CodeProviderUnavailable},
		{"503 backoff 1s", 503, "", providers.WithBackoff(time.Second, 2*time.Second), paybridge.CodeProviderUnavailable},
	}
	for _, c := range cases {
		var opts []providers.HTTPOption
		if c.backoff != nil {
			opts = append(opts, c.backoff)
		}
		fx := h.Start(t, opts...)
		fx.Add(t, "p1", h.Pending)
		fx.Fault(t, "p1", fake.Fault{Times: 10, Status: c.status, RetryAfter: c.retryAfter})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := fx.Client.Check(ctx, "p1")
		returnedInTime := ctx.Err() == nil
		cancel()
		if !returnedInTime {
			t.Errorf("%s: the call returned only at its deadline (%v)", c.name, err)
		}
		if code := paybridge.ErrorCode(err); code != c.code {
			t.Errorf("%s: error %v, want code %s", c.name, err, c.code)
		}
		if n := fx.Engine.Calls("p1"); n != 1 {
			t.Errorf("%s: fake saw %d calls, want 1", c.name, n)
		}
	}
}

func deadlineIsATimeout(t *testing.T, h Harness) {
	fx := h.Start(t)
	fx.Add(t, "p1", h.Pending)
	fx.Fault(t, "p1", fake.Fault{Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := fx.Client.Check(ctx, "p1")
	WantCode(t, err, paybridge.CodeProviderTimeout)
}
