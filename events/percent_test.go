package events

import (
	"fmt"
	"strings"
	"testing"
)

// Every byte is either itself (printable ASCII but '"' and '%') or %XX.
func TestPercentEncodeEveryByte(t *testing.T) {
	for b := 0; b < 256; b++ {
		in := string([]byte{byte(b)})
		want := in
		if b <= 0x20 || b >= 0x7f || b == '"' || b == '%' {
			want = fmt.Sprintf("%%%02X", b)
		}
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPercentRoundTrip(t *testing.T) {
	var all strings.Builder
	for r := rune(0); r < 0x800; r++ {
		all.WriteRune(r)
	}
	for _, s := range []string{"", "plain", all.String(), "€𝄞 \"%41\" \r\n\t", "%", "%%", "100%"} {
		enc := percentEncode(s)
		dec, err := percentDecode(enc)
		if err != nil || dec != s {
			t.Errorf("percentDecode(percentEncode(%q)) = %q, %v", s, dec, err)
		}
	}
	if got, err := percentDecode("%e2%82%ac"); err != nil || got != "€" {
		t.Errorf("lower-case escapes: %q, %v", got, err)
	}
}

func TestPercentEncodeDoesNotAllocateWhenClean(t *testing.T) {
	s := "urn:paybridge:provider:coinbar"
	if n := testing.AllocsPerRun(100, func() { _ = percentEncode(s) }); n != 0 {
		t.Errorf("percentEncode of a clean value allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = percentDecode(s) }); n != 0 {
		t.Errorf("percentDecode of a clean value allocates %v times", n)
	}
}
