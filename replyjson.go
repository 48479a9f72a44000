package paybridge

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the reply as json.Marshal writes it, byte for byte
// (FuzzReplyAppendJSON holds it to that), without reflection: every check
// answers with one, and encoding/json spent several allocations and a
// reflective walk on each.
func (r *Reply) AppendJSON(b []byte) []byte {
	b = append(b, `{"provider":`...)
	b = appendJSONString(b, r.Provider)
	if r.Account != "" {
		b = append(b, `,"account":`...)
		b = appendJSONString(b, r.Account)
	}
	b = append(b, `,"payment_id":`...)
	b = appendJSONString(b, r.PaymentID)
	if r.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, r.RequestID)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(r.Status))
	b = append(b, `,"previous_status":`...)
	if r.PreviousStatus == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, string(*r.PreviousStatus))
	}
	b = append(b, `,"changed":`...)
	b = strconv.AppendBool(b, r.Changed)
	b = append(b, `,"terminal":`...)
	b = strconv.AppendBool(b, r.Terminal)
	b = append(b, `,"provider_status":`...)
	b = appendJSONString(b, r.ProviderStatus)
	b = appendOptional(b, `,"provider_status_detail":`, r.ProviderStatusDetail)
	b = appendOptional(b, `,"amount":`, r.Amount)
	b = appendOptional(b, `,"currency":`, r.Currency)
	b = appendOptional(b, `,"amount_paid":`, r.AmountPaid)
	b = appendOptional(b, `,"crypto_amount":`, r.CryptoAmount)
	b = appendOptional(b, `,"crypto_currency":`, r.CryptoCurrency)
	if r.ProviderUpdatedAt != nil {
		b = append(b, `,"provider_updated_at":`...)
		b = appendJSONTime(b, *r.ProviderUpdatedAt)
	}
	b = append(b, `,"checked_at":`...)
	b = appendJSONTime(b, r.CheckedAt)
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, r.Revision, 10)
	b = appendOptional(b, `,"event_id":`, r.EventID)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, r.Source)
	b = append(b, `,"stale":`...)
	b = strconv.AppendBool(b, r.Stale)
	b = append(b, `,"watching":`...)
	b = strconv.AppendBool(b, r.Watching)
	return append(b, '}')
}

// appendOptional appends a member with omitempty's rule: none when empty.
func appendOptional(b []byte, member, v string) []byte {
	if v == "" {
		return b
	}
	return appendJSONString(append(b, member...), v)
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted). Its years past 9999, which MarshalJSON refuses,
// do not occur: times come from the clock and from parsed provider text.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json does: HTML-safe
// (<, > and & escaped), control characters escaped (\b, \f, \n, \r, \t by
// name), bytes that are not UTF-8 as \ufffd, and U+2028 and U+2029
// escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
