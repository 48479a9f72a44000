package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
)

// While a restarted bridge starts, a lookup waits lookupTimeout for its
// reply, and the next is sent lookupPause after one that got no answer, so
// that asking a bridge not yet subscribed does not spin.
const (
	lookupTimeout = 100 * time.Millisecond
	lookupPause   = 5 * time.Millisecond
)

// firstLookup is the first lookup answered with the stored record.
type firstLookup struct {
	after    time.Duration // from the bridge's start to the answer
	attempts int
	reply    paybridge.Reply
}

// awaitLookup asks the bridge for the stored status of rec's payment until
// it answers with rec, at most until within after started.
func awaitLookup(ctx context.Context, nc *nats.Conn, rec bridge.Record, started time.Time, within time.Duration) (firstLookup, error) {
	c, err := client.New(nc)
	if err != nil {
		return firstLookup{}, err
	}
	deadline := started.Add(within)
	for attempts := 1; ; attempts++ {
		rep, answer := lookupOnce(ctx, c, rec)
		now := time.Now()
		if answer == "" {
			if answer = differences(rep, rec); answer == "" {
				return firstLookup{after: now.Sub(started), attempts: attempts, reply: rep}, nil
			}
		}
		if now.After(deadline) {
			return firstLookup{}, fmt.Errorf("no lookup of %s answered with the stored record within %s of the bridge's start; the last answer: %s",
				rec.PaymentID, within, answer)
		}
		t := time.NewTimer(lookupPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return firstLookup{}, ctx.Err()
		case <-t.C:
		}
	}
}

// lookupOnce sends one lookup; answer says why there is no reply to use
// ("" when there is).
func lookupOnce(ctx context.Context, c *client.Client, rec bridge.Record) (rep paybridge.Reply, answer string) {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	rep, err := c.Status(ctx, rec.Provider, rec.PaymentID)
	if err != nil {
		return rep, err.Error()
	}
	return rep, ""
}

// differences says how a lookup reply differs from the stored record it
// should describe ("" when it describes it).
func differences(rep paybridge.Reply, rec bridge.Record) string {
	switch {
	case rep.Provider != rec.Provider || rep.PaymentID != rec.PaymentID:
		return fmt.Sprintf("a reply about %s %s", rep.Provider, rep.PaymentID)
	case rep.Source != paybridge.SourceStore:
		return fmt.Sprintf("a reply from the %s, not the store", rep.Source)
	case rep.Status != rec.Status || rep.ProviderStatus != rec.ProviderStatus || rep.Revision != rec.Revision:
		return fmt.Sprintf("status %s (%s) at revision %d, stored %s (%s) at %d",
			rep.Status, rep.ProviderStatus, rep.Revision, rec.Status, rec.ProviderStatus, rec.Revision)
	case rep.Amount != rec.Amount || rep.Currency != rec.Currency || rep.AmountPaid != rec.AmountPaid || rep.CryptoAmount != rec.CryptoAmount:
		return fmt.Sprintf("amount %s %s (paid %q, crypto %q), stored %s %s (paid %q, crypto %q)",
			rep.Amount, rep.Currency, rep.AmountPaid, rep.CryptoAmount, rec.Amount, rec.Currency, rec.AmountPaid, rec.CryptoAmount)
	case !rep.CheckedAt.Equal(rec.ObservedAt):
		return fmt.Sprintf("checked at %s, stored as observed at %s", rep.CheckedAt, rec.ObservedAt)
	}
	return ""
}
