package coinbar

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"unicode"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// refusal reports whether body is CoinbarPay's error shape,
// {"result": false, "error": "…"}, and returns the error text. A body
// without a "result" member (every status answer) is not parsed twice.
func refusal(body []byte) (string, bool) {
	if !bytes.Contains(body, []byte(`"result"`)) {
		return "", false
	}
	var r struct {
		Result *bool           `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &r) != nil || r.Result == nil || *r.Result {
		return "", false
	}
	var text string
	if json.Unmarshal(r.Error, &text) != nil {
		text = string(r.Error)
	}
	return text, true
}

// refused maps a refusal: its words decide rate limits and unknown
// payments, whatever HTTP status came with them (CoinbarPay does not
// document which); otherwise the status does. The provider's text is
// quoted with any credential blanked out.
func (c *Client) refused(status int, text string) error {
	text = providers.Quotable(text, 200, c.clientID, c.secretKey, c.signature)
	switch {
	case status == http.StatusTooManyRequests || mentionsRate(text):
		return paybridge.Errorf(paybridge.CodeProviderRateLimited, "coinbar rate limit reached: %q (HTTP %d)", text, status)
	case strings.Contains(strings.ToLower(text), "not found"):
		return paybridge.Errorf(paybridge.CodePaymentNotFound, "coinbar knows no such payment: %q (HTTP %d)", text, status)
	}
	if err := c.http.StatusError(status); err != nil && paybridge.ErrorCode(err) != paybridge.CodeProviderBadResponse {
		return err
	}
	return badResponse("refused the request: %q (HTTP %d)", text, status)
}

// mentionsRate reports whether text has the word "rate" (as in "Api RATE
// exceeded") or one starting "ratelimit"; words that merely contain the
// letters, such as "generated", do not count.
func mentionsRate(text string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) }) {
		if w == "rate" || strings.HasPrefix(w, "ratelimit") {
			return true
		}
	}
	return false
}
