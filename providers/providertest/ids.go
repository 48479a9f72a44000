package providertest

import (
	"context"
	"slices"
	"testing"

	"github.com/paybridge/paybridge"
)

// paymentIDsReachTheProviderByteForByte: ids with path, query, fragment
// and escape characters, spaces and non-ASCII arrive as one path segment
// and decode to exactly the id asked for, with the credentials on.
func paymentIDsReachTheProviderByteForByte(t *testing.T, h Harness) {
	fx := h.Start(t)
	for _, id := range []string{"a/b?c%d#e f ü€", "semi;colon:plus+at@", "tab\there", "%2F", "..."} {
		fx.Add(t, id, h.Paid)
		got, err := fx.Client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if got.Status != paybridge.StatusPaid {
			t.Fatalf("%q: status %s", id, got.Status)
		}
		reqs := fx.Engine.Requests()
		last := reqs[len(reqs)-1]
		if wantURI := h.StatusURI(id); last.ID != id || last.RequestURI != wantURI {
			t.Fatalf("fake got id %q at %q, want %q at %q", last.ID, last.RequestURI, id, wantURI)
		}
		for name, want := range h.Header {
			if got := last.Header.Values(name); !slices.Equal(got, want) {
				t.Fatalf("%q: header %s is %q, want %q", id, name, got, want)
			}
		}
	}
}

// dotSegmentsAreRefused: ids a server would resolve away, and the empty
// one, are refused before anything is sent.
func dotSegmentsAreRefused(t *testing.T, h Harness) {
	fx := h.Start(t)
	for _, id := range []string{".", "..", ""} {
		_, err := fx.Client.Check(context.Background(), id)
		WantCode(t, err, paybridge.CodeInvalidRequest)
	}
	if n := len(fx.Engine.Requests()); n != 0 {
		t.Fatalf("%d requests were sent for ids that were refused", n)
	}
}
