package paybridge_test

import (
	"testing"

	"github.com/paybridge/paybridge"
)

func TestSubjectProblem(t *testing.T) {
	for subject, want := range map[string]string{
		"payments.check":       "",
		"shop-1.payments_get":  "",
		"":                     "must not be empty",
		"payments check":       "must not contain white space or control characters",
		"payments.check\r\n":   "must not contain white space or control characters",
		"payments.\x7f":        "must not contain white space or control characters",
		".payments":            "has an empty token",
		"payments.":            "has an empty token",
		"payments..check":      "has an empty token",
		"payments.>":           "must not contain wildcards",
		"payments.*.check":     "must not contain wildcards",
		"payments.che*ck":      "must not contain wildcards",
		"payments.status.chan": "",
	} {
		if got := paybridge.SubjectProblem(subject); got != want {
			t.Errorf("SubjectProblem(%q) = %q, want %q", subject, got, want)
		}
	}
}
