package muvinai

import (
	"os"
	"testing"

	"github.com/paybridge/paybridge"
)

// BenchmarkNormalize maps one input per status and detail of every row of
// the table, and an unknown one that walks the whole table.
func BenchmarkNormalize(b *testing.B) {
	type input struct {
		status, detail string
		want           paybridge.Status
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
	inputs = append(inputs, input{"approved", "not_paid", paybridge.StatusUnknown})
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

// BenchmarkDecodeStatus decodes the seed body into a Result: JSON (with
// the many fields it skips), exact decimals, the time and the mapping.
func BenchmarkDecodeStatus(b *testing.B) {
	body, err := os.ReadFile("testdata/seed-status.json")
	if err != nil {
		b.Fatal(err)
	}
	if r, err := decodeStatus("text", body); err != nil || r.Status != paybridge.StatusPending || r.AmountPaid != "1" {
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
