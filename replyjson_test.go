package paybridge_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
)

// AppendJSON writes what json.Marshal writes, for any reply: the contract's
// reply bytes do not depend on which encoder made them.
func FuzzReplyAppendJSON(f *testing.F) {
	f.Add("coinbar", "", "order-1", "", "pending", "", false, "PENDING", "", "8.99", "EUR", int64(1765000000123456789), uint64(7), true)
	f.Add("muvinai", "shop-42", "pr-<1>&\"x\"", "req\n7", "paid", "pending", true, "approved", "correct\u2028\x00\xff", "15000.50", "ARS", int64(-1), uint64(0), false)
	f.Add("", "", "", "", "", "", false, "", "", "", "", int64(0), uint64(1<<63), false)
	f.Fuzz(func(t *testing.T, provider, account, paymentID, requestID, status, previous string, changed bool,
		providerStatus, detail, amount, currency string, nanos int64, revision uint64, watching bool) {
		at := time.Unix(0, nanos).UTC()
		r := paybridge.Reply{
			Provider: provider, Account: account, PaymentID: paymentID, RequestID: requestID,
			Status: paybridge.Status(status), Changed: changed, Terminal: watching,
			ProviderStatus: providerStatus, ProviderStatusDetail: detail,
			Amount: amount, Currency: currency, AmountPaid: detail, CryptoAmount: amount, CryptoCurrency: currency,
			CheckedAt: at, Revision: revision, EventID: requestID, Source: paybridge.SourceProvider, Stale: changed, Watching: watching,
		}
		if previous != "" {
			p := paybridge.Status(previous)
			r.PreviousStatus = &p
		}
		if nanos%2 == 0 {
			u := at.Add(-time.Hour).In(time.FixedZone("X", 5400))
			r.ProviderUpdatedAt = &u
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Skip(err) // a time json.Marshal refuses
		}
		if got := r.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON:\n%s\njson.Marshal:\n%s", got, want)
		}
	})
}

func BenchmarkReplyJSON(b *testing.B) {
	prev := paybridge.StatusPending
	r := paybridge.Reply{Provider: "coinbar", PaymentID: "order-1", Status: paybridge.StatusPending, PreviousStatus: &prev,
		ProviderStatus: "PENDING", Amount: "8.99", Currency: "EUR", CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC",
		CheckedAt: time.Now().UTC(), Revision: 12, Source: paybridge.SourceProvider}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.AppendJSON(make([]byte, 0, 512))
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(r)
		}
	})
}
