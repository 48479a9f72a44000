package events_test

import (
	"testing"

	"github.com/paybridge/paybridge/events"
)

func BenchmarkEncodeBinary(b *testing.B) {
	e := events.NewStatusChanged("ev-1", fullData())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Encode("payments.status.changed", e, events.Binary); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStructured(b *testing.B) {
	e := events.NewStatusChanged("ev-1", fullData())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Encode("payments.status.changed", e, events.Structured); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	m := mustEncode(b, events.NewStatusChanged("ev-1", fullData()), events.Binary)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeMsg(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStructured(b *testing.B) {
	m := mustEncode(b, events.NewStatusChanged("ev-1", fullData()), events.Structured)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeMsg(m); err != nil {
			b.Fatal(err)
		}
	}
}
