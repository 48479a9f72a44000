package bridge_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

func BenchmarkKey(b *testing.B) {
	for _, bc := range []struct{ name, id string }{
		{"plain", "7d0f6c5e-4f1a-4c1e-9a57-2b8f0e0c8d11"},
		{"base64", "order 42/ä"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bridge.Key("coinbar", bc.id)
			}
		})
	}
}

func BenchmarkEventID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bridge.EventID("coinbar", "7d0f6c5e-4f1a-4c1e-9a57-2b8f0e0c8d11", 42, paybridge.StatusPaid)
	}
}

// benchWorld is a bridge on an embedded NATS server with the CoinbarPay
// fake over loopback HTTP, and a client connection to send checks on.
// Allocations reported by the check benchmarks are the whole process's:
// client, NATS server, bridge and fake.
type benchWorld struct {
	nc      *nats.Conn
	coinbar *coinbar.Fake
}

func newBenchWorld(b *testing.B) *benchWorld {
	b.Helper()
	srv, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: b.TempDir()})
	must(b, err)
	b.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	connect := func() *nats.Conn {
		nc, err := nats.Connect(srv.ClientURL())
		must(b, err)
		b.Cleanup(nc.Close)
		return nc
	}
	w := &benchWorld{nc: connect()}
	w.coinbar, err = coinbar.NewFake(coinbarClientID, coinbarSecret)
	must(b, err)
	hs := httptest.NewServer(w.coinbar)
	b.Cleanup(hs.Close)
	client, err := coinbar.New(hs.URL, coinbarClientID, coinbar.WithSecretKey(coinbarSecret))
	must(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, err := bridge.New(ctx, connect(), bridge.Config{}, client)
	must(b, err)
	must(b, br.Start())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		br.Close(ctx)
	})
	return w
}

// addPending adds n pending payments and checks each once, so that the
// store holds their status; it returns their check requests.
func (w *benchWorld) addPending(b *testing.B, n int, maxAge string) [][]byte {
	b.Helper()
	reqs := make([][]byte, n)
	for i := range reqs {
		id := fmt.Sprintf("bench-%05d", i)
		must(b, w.coinbar.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC",
			Steps: []fake.Step{{Status: "PENDING"}}}))
		reqs[i] = []byte(fmt.Sprintf(`{"provider":"coinbar","payment_id":%q}`, id))
		w.check(b, reqs[i]) // first sight: stored and announced
		if maxAge != "" {
			reqs[i] = []byte(fmt.Sprintf(`{"provider":"coinbar","payment_id":%q,"max_age":%q}`, id, maxAge))
		}
	}
	return reqs
}

// check sends one check and fails on anything but a status reply.
func (w *benchWorld) check(b *testing.B, req []byte) {
	if err := w.try(req); err != nil {
		b.Fatal(err)
	}
}

// try sends one check; an error reply is an error.
func (w *benchWorld) try(req []byte) error {
	msg, err := w.nc.Request("payments.check", req, 10*time.Second)
	if err != nil {
		return err
	}
	if msg.Header.Get(micro.ErrorCodeHeader) != "" {
		return fmt.Errorf("check failed: %s", msg.Data)
	}
	return nil
}

// BenchmarkCheckUnchanged is one whole check, one at a time: NATS request,
// provider GET, store read, watch lookup, reply; the status is the one
// stored, the common case.
func BenchmarkCheckUnchanged(b *testing.B) {
	w := newBenchWorld(b)
	req := w.addPending(b, 1, "")[0]
	b.ReportAllocs()
	for b.Loop() {
		w.check(b, req)
	}
}

// BenchmarkCheckUnchangedTraced is BenchmarkCheckUnchanged from a caller
// in a trace, with tracing off in the bridge: what propagating the W3C
// trace context alone costs (compare the two).
func BenchmarkCheckUnchangedTraced(b *testing.B) {
	w := newBenchWorld(b)
	msg := nats.NewMsg("payments.check")
	msg.Data = w.addPending(b, 1, "")[0]
	msg.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	b.ReportAllocs()
	for b.Loop() {
		reply, err := w.nc.RequestMsg(msg, 10*time.Second)
		if err != nil || reply.Header.Get(micro.ErrorCodeHeader) != "" {
			b.Fatalf("check failed: %v", err)
		}
	}
}

// BenchmarkCheckParallel keeps many checks of distinct payments in flight,
// as a busy bridge sees them.
func BenchmarkCheckParallel(b *testing.B) {
	w := newBenchWorld(b)
	reqs := w.addPending(b, 256, "")
	var next atomic.Uint64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.try(reqs[next.Add(1)%uint64(len(reqs))]); err != nil {
				b.Error(err) // Fatal belongs to the benchmark's own goroutine
				return
			}
		}
	})
}

// BenchmarkCheckMaxAge is a check answered from the store under max_age:
// no provider call.
func BenchmarkCheckMaxAge(b *testing.B) {
	w := newBenchWorld(b)
	req := w.addPending(b, 1, "1h")[0]
	calls := w.coinbar.Calls("bench-00000")
	b.ReportAllocs()
	for b.Loop() {
		w.check(b, req)
	}
	b.StopTimer()
	if got := w.coinbar.Calls("bench-00000"); got != calls {
		b.Fatalf("max_age checks called the provider %d times", got-calls)
	}
}
