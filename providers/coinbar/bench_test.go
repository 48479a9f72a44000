package coinbar

import (
	"os"
	"testing"

	"github.com/paybridge/paybridge"
)

// BenchmarkNormalize maps one input per status of every row of the table,
// and an unknown one that walks the whole table.
func BenchmarkNormalize(b *testing.B) {
	type input struct {
		status, descr string
		want          paybridge.Status
	}
	var inputs []input
	for _, r := range table {
		for _, s := range r.statuses {
			inputs = append(inputs, input{s, "Failed - " + r.descrContains, r.status})
		}
	}
	inputs = append(inputs, input{"ON_HOLD", "Waiting", paybridge.StatusUnknown})
	for _, in := range inputs {
		if got := Normalize(in.status, in.descr); got != in.want {
			b.Fatalf("Normalize(%q, %q) = %s, want %s: the inputs no longer hit their rows", in.status, in.descr, got, in.want)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, in := range inputs {
			Normalize(in.status, in.descr)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(inputs)), "ns/normalize")
}

// BenchmarkDecodeStatus decodes the seed body into a Result: JSON, exact
// decimals, the time and the mapping.
func BenchmarkDecodeStatus(b *testing.B) {
	body, err := os.ReadFile("testdata/seed-status.json")
	if err != nil {
		b.Fatal(err)
	}
	const id = "XxYyWwZz-XxYy-XxYy-XxYy-XxYyWwZz"
	if r, err := decodeStatus(id, body); err != nil || r.Status != paybridge.StatusExpired || r.CryptoAmount != "0.00045145423250897323" {
		b.Fatalf("seed body decoded as %+v, %v", r, err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeStatus(id, body); err != nil {
			b.Fatal(err)
		}
	}
}
