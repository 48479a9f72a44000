package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/events"
)

// printReply prints the outcome of a check or lookup: the reply JSON as
// received (replyJSON), or readably. An error reply is printed the same way
// and returned as errAnswered, and so is a request the client refused to
// send (as the bridge would have answered it); any other error is returned
// as it is.
func printReply(w io.Writer, rep paybridge.Reply, replyJSON []byte, err error, asJSON bool) error {
	var coded *paybridge.Error
	answered := errors.As(err, &coded)
	if asJSON {
		if replyJSON == nil && answered {
			replyJSON, _ = json.Marshal(paybridge.ErrorReply{Error: paybridge.NewErrorBody(err)})
		}
		if replyJSON != nil {
			fmt.Fprintf(w, "%s\n", replyJSON)
		}
	}
	switch {
	case answered:
		if !asJSON {
			fmt.Fprintf(w, "error: %s: %s\n", escapeForTerminal(string(coded.Code)), escapeForTerminal(coded.Message))
		}
		return errAnswered
	case err != nil:
		return err
	}
	if !asJSON {
		fmt.Fprint(w, formatReply(rep))
	}
	return nil
}

// formatReply describes a reply in a few lines, e.g.
//
//	coinbar order-1: paid (was pending) changed event=… revision=12
//	  provider status: SUCCESS
//	  amount: 8.99 EUR  crypto: 0.00045145423250897323 BTC
//	  provider updated: 2026-01-02T03:04:05Z  checked: 2026-01-02T03:04:06Z (provider)
//
// A merchant account's payment begins "coinbar/shop-a order-1" (paymentName).
//
// Every string in it came from whoever answered, and most from the
// provider's API, so each is escaped (see escapeForTerminal): a status
// holding ESC sequences must not clear the screen or forge a line.
func formatReply(r paybridge.Reply) string {
	e := escapeForTerminal
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", paymentName(r.Provider, r.Account, r.PaymentID), e(string(r.Status)))
	switch {
	case !r.Changed:
		b.WriteString(" unchanged")
	case r.PreviousStatus == nil:
		fmt.Fprintf(&b, " (first sight) changed event=%s", e(r.EventID))
	default:
		fmt.Fprintf(&b, " (was %s) changed event=%s", e(string(*r.PreviousStatus)), e(r.EventID))
	}
	if r.Stale {
		b.WriteString(" stale: the provider's answer went back from a terminal status and was ignored")
	}
	if r.Watching {
		b.WriteString(" watching")
	}
	if r.Revision > 0 {
		fmt.Fprintf(&b, " revision=%d", r.Revision)
	}
	fmt.Fprintf(&b, "\n  provider status: %s\n", rawStatus(r.ProviderStatus, r.ProviderStatusDetail))
	var amounts []string
	if r.Amount != "" {
		amounts = append(amounts, "amount: "+e(strings.TrimSpace(r.Amount+" "+r.Currency)))
	}
	if r.AmountPaid != "" {
		amounts = append(amounts, "paid: "+e(r.AmountPaid))
	}
	if r.CryptoAmount != "" {
		amounts = append(amounts, "crypto: "+e(strings.TrimSpace(r.CryptoAmount+" "+r.CryptoCurrency)))
	}
	if len(amounts) > 0 {
		fmt.Fprintf(&b, "  %s\n", strings.Join(amounts, "  "))
	}
	b.WriteString("  ")
	if r.ProviderUpdatedAt != nil {
		fmt.Fprintf(&b, "provider updated: %s  ", formatTime(*r.ProviderUpdatedAt))
	}
	fmt.Fprintf(&b, "checked: %s (%s)\n", formatTime(r.CheckedAt), e(r.Source))
	return b.String()
}

// rawStatus is the provider's words, escaped: "FAILED/Timeout",
// "pending/underpaid".
func rawStatus(status, detail string) string {
	if detail == "" {
		return escapeForTerminal(status)
	}
	return escapeForTerminal(status + "/" + detail)
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// paymentName names a payment for people, escaped: "coinbar order-1", or
// "coinbar/shop-a order-1" for a merchant account's ("/" is in no
// provider's or account's name).
func paymentName(provider, account, id string) string {
	e := escapeForTerminal
	if account == "" {
		return e(provider) + " " + e(id)
	}
	return e(provider) + "/" + e(account) + " " + e(id)
}

// eventLine describes an event in one line, e.g.
//
//	2026-01-02T03:04:05.000Z coinbar order-1 pending → paid (SUCCESS) id=…
//	2026-01-02T03:04:05.000Z coinbar/shop-a order-1 pending → paid (SUCCESS) id=…
//
// Its strings are escaped as formatReply's are: anyone who may publish
// to the stream, and any provider, wrote them.
func eventLine(ev events.Event) string {
	e := escapeForTerminal
	d := ev.Data
	from := "new"
	if d.PreviousStatus != nil {
		from = e(string(*d.PreviousStatus))
	}
	change := fmt.Sprintf("%s → %s", from, e(string(d.Status)))
	if ev.Type == events.TypeWatchExpired {
		change = fmt.Sprintf("watch expired at %s", e(string(d.Status)))
	}
	return fmt.Sprintf("%s %s %s (%s) id=%s", formatTime(ev.Time), paymentName(d.Provider, d.Account, d.PaymentID), change,
		rawStatus(d.ProviderStatus, d.ProviderStatusDetail), e(ev.ID))
}
