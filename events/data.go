package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paybridge/paybridge"
)

// decodeData parses and checks an event's data. Amounts are strings in the
// JSON, so they are copied as text, never parsed as numbers.
func decodeData(b []byte, typ string) (StatusChanged, error) {
	var d StatusChanged
	if err := json.Unmarshal(b, &d); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return d, fmt.Errorf("not JSON: %w", err)
		}
		return d, err
	}
	return d, checkData(&d, typ)
}

// checkData reports the first field of d that no paybridge event of type
// typ can have. A watch-expired event may carry status unknown: the watch
// of a payment whose status was never known.
func checkData(d *StatusChanged, typ string) error {
	switch {
	case d.Provider == "":
		return errors.New("missing provider")
	case d.PaymentID == "":
		return errors.New("missing payment_id")
	case d.Status == "":
		return errors.New("missing status")
	case !publishedStatus(d.Status) && !(typ == TypeWatchExpired && d.Status == paybridge.StatusUnknown):
		return fmt.Errorf("status %q is not a published status", d.Status)
	case d.PreviousStatus != nil && !publishedStatus(*d.PreviousStatus):
		return fmt.Errorf("previous_status %q is not a published status", *d.PreviousStatus)
	case d.Terminal != d.Status.Terminal():
		return fmt.Errorf("terminal is %t but status %q says %t", d.Terminal, d.Status, d.Status.Terminal())
	case d.ObservedAt.IsZero():
		return errors.New("missing observed_at")
	case d.Account != "" && paybridge.AccountProblem(d.Account) != "":
		return fmt.Errorf("account %q %s", d.Account, paybridge.AccountProblem(d.Account))
	case d.Reason != "" && typ != TypeWatchExpired:
		return fmt.Errorf("reason %q: only a watch-expired event has one", d.Reason)
	}
	if problem := paybridge.AmountsProblem(d.Amount, d.AmountPaid, d.CryptoAmount); problem != "" {
		return errors.New(problem)
	}
	return nil
}

// isJSONNull reports whether b is the JSON literal null.
func isJSONNull(b []byte) bool {
	return bytes.Equal(bytes.TrimSpace(b), []byte("null"))
}

// publishedStatus reports whether s can appear in an event: a normalized
// status other than unknown, which is never stored or published.
func publishedStatus(s paybridge.Status) bool {
	return s.Valid() && s != paybridge.StatusUnknown
}
