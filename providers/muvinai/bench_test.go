package muvinai

import (
	"testing"

	"github.com/paybridge/paybridge/providers"
)

// BenchmarkNormalize maps one input per status and detail of every row of
// the table, and an unknown one that walks the whole table.
func BenchmarkNormalize(b *testing.B) {
	type input struct {
		status, detail string
		want           providers.Status
	}
	var inputs []input
	for _, r := range table {
		details := r.details
		if details == nil {
			details = []string{"not_paid"}
		}
		for _, s := range r.statuses {
			for _, d := range details {
				inputs = append(inputs, input{s, d, r.status})
			}
		}
	}
	inputs = append(inputs, input{"approved", "not_paid", providers.StatusUnknown})
	for _, in := range inputs {
		if got := Normalize(in.status, in.detail); got != in.want {
			b.Fatalf("Normalize(%q, %q) = %s, want %s: the inputs no longer hit their rows", in.status, in.detail, got, in.want)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range inputs {
			Normalize(in.status, in.detail)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(inputs)), "ns/normalize")
}

// benchSeedBody is the 200 sample of Muvinai's status page, verbatim, as
// client_test.go has it (that copy lives in the external test package).
const benchSeedBody = `{
"id": "text",
"order_id": 1,
"ars_amount": 1,
"ars_paid": 1,
"amount": 1,
"amount_paid": 1,
"currency": "ARS",
"items": [
{
"id": "text",
"quantity": 1,
"name": "text",
"price": 1,
"currency": "ARS"
}
],
"usd_amount": 1,
"reference": {},
"memo": "text",
"notification_url": "text",
"status": "pending",
"status_detail": "not_paid",
"approved_at": "2025-08-30T20:38:30.887Z",
"expiration_time": "2025-08-30T20:38:30.887Z",
"delivered": true,
"transactions": [
{
"id": "text",
"price_details": {
"currency": "ARS",
"currency_amount": 1,
"currency_final_amount": 1,
"base_amount": 1,
"final_amount": 1,
"paid_amount": 1,
"discount_rate": 1,
"rate": 1
},
"coin": "BTC",
"chain_id": 1,
"address": "text",
"status": "not_paid",
"payment_request_id": "text",
"memo": "text",
"additional_info": {},
"payments": [],
"date_created": "2025-08-30T20:38:30.887Z",
"last_modified": "2025-08-30T20:38:30.887Z"
}
],
"card_payment": null,
"payments": [],
"merchant_id": "text",
"date_created": "2025-08-30T20:38:30.887Z",
"last_modified": "2025-08-30T20:38:30.887Z",
"checkout_url": "text",
"conflict": true
}`

// BenchmarkDecodeStatus decodes the seed body into a Result: JSON (with
// the many fields it skips), exact decimals, the time and the mapping.
func BenchmarkDecodeStatus(b *testing.B) {
	body := []byte(benchSeedBody)
	if r, err := decodeStatus("text", body); err != nil || r.Status != providers.StatusPending || r.AmountPaid != "1" {
		b.Fatalf("seed body decoded as %+v, %v", r, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStatus("text", body); err != nil {
			b.Fatal(err)
		}
	}
}
