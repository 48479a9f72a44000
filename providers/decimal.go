package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/paybridge/paybridge"
)

// Decimal is an amount exactly as a provider wrote it: the text of a JSON
// number, never parsed into a float64 (CoinbarPay sends 20 significant
// digits). It also accepts a string holding a number, which some APIs use
// for money, and null. Anything else is an error naming what was sent.
type Decimal string

// UnmarshalJSON implements json.Unmarshaler.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*d = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if !paybridge.IsDecimal(s) {
			return fmt.Errorf("amount %q is not a decimal number", Truncate(s, 40))
		}
		*d = Decimal(s)
		return nil
	}
	if !paybridge.IsDecimal(string(b)) {
		return fmt.Errorf("amount %s is not a decimal number", jsonText(b, 40))
	}
	*d = Decimal(b)
	return nil
}

// jsonText is a JSON value shown as itself (true, {"a":1}) but compacted,
// so no line break between its tokens reaches a message and the NATS
// header it ends in, and cut to n bytes. Text that is not JSON is quoted.
func jsonText(b []byte, n int) string {
	var compact bytes.Buffer
	if json.Compact(&compact, b) != nil {
		return strconv.Quote(Truncate(string(b), n))
	}
	return Truncate(compact.String(), n)
}
