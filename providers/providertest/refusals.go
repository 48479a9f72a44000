package providertest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// wrongCredentials: each bad client is turned away after one request that
// never reaches the payment, and its error does not show its secret.
func wrongCredentials(t *testing.T, h Harness) {
	fx := h.Start(t)
	fx.Add(t, "p1", h.Pending)
	for _, bad := range h.BadCredentials {
		c, err := bad.New(fx.URL, fx.httpOpts...)
		if err != nil {
			t.Fatalf("%s: %v", bad.Name, err)
		}
		_, err = c.Check(context.Background(), "p1")
		WantCode(t, err, paybridge.CodeProviderAuthFailed)
		if bad.Secret != "" && strings.Contains(err.Error(), bad.Secret) {
			t.Fatalf("%s: error %q shows the secret", bad.Name, err)
		}
		noSecrets(t, h, err)
	}
	if n, want := len(fx.Engine.Requests()), len(h.BadCredentials); n != want {
		t.Fatalf("fake got %d requests, want %d: a 401 is not retried", n, want)
	}
	if n := fx.Engine.Calls("p1"); n != 0 {
		t.Fatalf("unauthorized requests reached the payment: %d", n)
	}
}

// unreadableBodies are refused as provider_bad_response, naming the
// provider; a body over the limit is refused for its size, not for what
// the part read lacks.
func unreadableBodies(t *testing.T, h Harness) {
	fx := h.Start(t)
	cases := map[string]struct {
		fault fake.Fault
		says  string // in the message, besides the provider's name
	}{
		"truncated JSON":  {fault: fake.Fault{Times: 1, Body: fake.TruncatedJSON()}},
		"over 1 MiB":      {fault: fake.Fault{Times: 1, Body: fake.OversizedJSON(providers.MaxBodyBytes)}, says: strconv.Itoa(providers.MaxBodyBytes)},
		"HTML error page": {fault: fake.Fault{Times: 1, Body: fake.HTMLPage(200)}},
		"HTML 400":        {fault: fake.Fault{Times: 1, Status: 400, Body: fake.HTMLPage(400)}},
		"JSON array":      {fault: fake.Fault{Times: 1, Body: []byte(`[]`)}},
		"JSON string":     {fault: fake.Fault{Times: 1, Body: []byte(`"ok"`)}},
	}
	for name, c := range cases {
		id := "bad-" + strings.ReplaceAll(name, " ", "-")
		fx.Fault(t, id, c.fault)
		_, err := fx.Client.Check(context.Background(), id)
		if msg := paybridge.ErrorMessage(err); !strings.Contains(msg, h.Name) || !strings.Contains(msg, c.says) {
			t.Errorf("%s: message %q does not name the provider and %q", name, msg, c.says)
		}
		WantCode(t, err, paybridge.CodeProviderBadResponse)
	}
}
