package events_test

import (
	"testing"

	"github.com/paybridge/paybridge/events"
)

// The cost of one event, published once per status change.

func BenchmarkEncodeBinary(b *testing.B)     { benchmarkEncode(b, events.Binary) }
func BenchmarkEncodeStructured(b *testing.B) { benchmarkEncode(b, events.Structured) }
func BenchmarkDecodeBinary(b *testing.B)     { benchmarkDecode(b, events.Binary) }
func BenchmarkDecodeStructured(b *testing.B) { benchmarkDecode(b, events.Structured) }

func benchmarkEncode(b *testing.B, mode events.Mode) {
	e := events.NewStatusChanged("ev-1", fullData())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Encode("payments.status.changed", e, mode); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkDecode(b *testing.B, mode events.Mode) {
	m := mustEncode(b, events.NewStatusChanged("ev-1", fullData()), mode)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeMsg(m); err != nil {
			b.Fatal(err)
		}
	}
}
