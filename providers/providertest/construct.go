package providertest

import (
	"strings"
	"testing"

	"github.com/paybridge/paybridge/providers"
)

// newValidatesTheBaseURL: a base URL that would send requests elsewhere
// or put credentials on the wire is refused without being repeated, as is
// a bad HTTP option; a trailing slash is fine.
func newValidatesTheBaseURL(t *testing.T, h Harness) {
	bad := map[string]string{
		"no scheme":   "provider.example",
		"ftp":         "ftp://provider.example",
		"no host":     "https://",
		"query":       "https://provider.example?x=1",
		"fragment":    "https://provider.example#x",
		"credentials": "https://user:hunter2@provider.example",
		"not a URL":   "https://bad host\x7f",
	}
	for name, base := range bad {
		_, err := h.NewClient(base)
		if err == nil {
			t.Errorf("%s: %q accepted", name, base)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q shows a credential", name, err)
		}
	}
	if _, err := h.NewClient("https://provider.example", providers.WithRetries(-1)); err == nil {
		t.Error("bad HTTP option accepted")
	}
	c, err := h.NewClient("https://provider.example/")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if c.Name() != h.Name {
		t.Fatalf("Name() = %q, want %q", c.Name(), h.Name)
	}
}
