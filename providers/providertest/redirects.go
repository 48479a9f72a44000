package providertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/paybridge/paybridge"
)

// redirectsAreNotFollowed: a provider answering 301, 302, 307 or 308
// with a Location on another host (here the provider's own fake, where
// the payment exists, so following would succeed) is not followed: the
// other host receives no request and so neither the credentials, the 3xx
// is not retried, and the error is provider_bad_response naming the status
// and the other host. A 3xx without a Location says so.
func redirectsAreNotFollowed(t *testing.T, h Harness) {
	other := h.Start(t)
	const id = "p1"
	other.Add(t, id, h.Paid)
	otherHost := mustHost(t, other.URL)

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector, calls := redirectServer(t, status, other.URL+h.StatusURI(id))
		c, err := h.NewClient(redirector.URL, other.httpOpts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Check(context.Background(), id)
		WantCode(t, err, paybridge.CodeProviderBadResponse)
		msg := paybridge.ErrorMessage(err)
		for _, word := range []string{h.Name, strconv.Itoa(status), strconv.Quote(otherHost)} {
			if !strings.Contains(msg, word) {
				t.Errorf("HTTP %d: message %q does not say %s", status, msg, word)
			}
		}
		noSecrets(t, h, err)
		if n := calls.Load(); n != 1 {
			t.Errorf("HTTP %d: the redirecting server saw %d requests, want 1 (a redirect is not retried)", status, n)
		}
	}
	if n := len(other.Engine.Requests()); n != 0 {
		t.Fatalf("the host redirected to received %d requests, want none", n)
	}

	redirector, _ := redirectServer(t, http.StatusFound, "")
	c, err := h.NewClient(redirector.URL, other.httpOpts...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(context.Background(), id)
	WantCode(t, err, paybridge.CodeProviderBadResponse)
	if msg := paybridge.ErrorMessage(err); !strings.Contains(msg, "302") || !strings.Contains(msg, "no Location") {
		t.Errorf("302 without Location: message %q does not say the status and no Location", msg)
	}
}

// redirectServer answers every request with status, a Location header
// (none when location is empty) and a body in the provider's success
// shape that must not be used; it counts the requests.
func redirectServer(t *testing.T, status int, location string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if location != "" {
			w.Header().Set("Location", location)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status": "SUCCESS", "result": false, "error": "Api RATE exceeded"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func mustHost(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
