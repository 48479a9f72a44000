package providers

import (
	"encoding/json"
	"testing"
)

func TestDecimalKeepsDigits(t *testing.T) {
	cases := map[string]Decimal{
		`0.00045145423250897323`: "0.00045145423250897323",
		`"19913.425"`:            "19913.425",
		`null`:                   "",
		`1e-7`:                   "1e-7",
		`-0`:                     "-0",
	}
	for in, want := range cases {
		var d Decimal
		if err := json.Unmarshal([]byte(in), &d); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if d != want {
			t.Errorf("%s: got %q, want %q", in, d, want)
		}
	}
}

func TestDecimalRejectsNonNumbers(t *testing.T) {
	for _, in := range []string{`true`, `"abc"`, `"1.2.3"`, `{}`, `[]`, `"01"`, `"1."`, `".5"`, `"NaN"`, `"1e"`} {
		var d Decimal
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%s: accepted as %q", in, d)
		}
	}
}
