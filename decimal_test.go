package paybridge_test

import (
	"strings"
	"testing"

	"github.com/paybridge/paybridge"
)

func TestAmountsProblemNamesTheFirstBadAmount(t *testing.T) {
	for _, c := range []struct {
		amount, paid, crypto string
		want                 string
	}{
		{"8.99", "", "0.00045145423250897323", ""},
		{"", "", "", ""},
		{"8,99", "x", "", `amount "8,99" is not a decimal number`},
		{"8.99", "1e", "", `amount_paid "1e" is not a decimal number`},
		{"8.99", "", "0x10", `crypto_amount "0x10" is not a decimal number`},
		{strings.Repeat("9", 100) + "!", "", "", `amount "` + strings.Repeat("9", 70) + `" is not a decimal number`},
	} {
		got := paybridge.AmountsProblem(c.amount, c.paid, c.crypto)
		if got != c.want {
			t.Errorf("AmountsProblem(%q, %q, %q) = %q, want %q", c.amount, c.paid, c.crypto, got, c.want)
		}
	}
}
