package providers_test

import (
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

func TestParseBaseURL(t *testing.T) {
	good := map[string]string{
		"https://sandbox.coinbar.io":      "https://sandbox.coinbar.io",
		"https://sandbox.coinbar.io/":     "https://sandbox.coinbar.io",
		"http://127.0.0.1:8080/prefix//":  "http://127.0.0.1:8080/prefix",
		"https://api.simplefi.tech/v1/pp": "https://api.simplefi.tech/v1/pp",
	}
	for in, want := range good {
		got, err := providers.ParseBaseURL(in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"sandbox.coinbar.io":                      "http or https",
		"ftp://sandbox.coinbar.io":                `scheme "ftp"`,
		"https://":                                "no host",
		"https://user:hunter2@sandbox.coinbar.io": "credentials",
		"https://sandbox.coinbar.io?x=1":          "query or fragment",
		"https://sandbox.coinbar.io#top":          "query or fragment",
		"https://bad host\x7f":                    "not a valid URL",
	}
	for in, want := range bad {
		_, err := providers.ParseBaseURL(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", in, err, want)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error %q shows the password", in, err)
		}
	}
}

func TestCheckPaymentID(t *testing.T) {
	for _, id := range []string{"", ".", ".."} {
		err := providers.CheckPaymentID(id)
		if paybridge.ErrorCode(err) != paybridge.CodeInvalidRequest {
			t.Errorf("%q: error %v, want invalid_request", id, err)
		}
	}
	for _, id := range []string{"p1", "...", ".a", "a/b", "ünï"} {
		if err := providers.CheckPaymentID(id); err != nil {
			t.Errorf("%q: refused: %v", id, err)
		}
	}
}

func TestValidHeaderValue(t *testing.T) {
	for _, v := range []string{"", "cb-client-3f9a", "Bearer sk_x", "ünï code"} {
		if !providers.ValidHeaderValue(v) {
			t.Errorf("%q refused", v)
		}
	}
	for _, v := range []string{"id\r\nX-Evil: 1", "a\nb", "tab\there", "del\x7f", "nul\x00"} {
		if providers.ValidHeaderValue(v) {
			t.Errorf("%q accepted", v)
		}
	}
}
