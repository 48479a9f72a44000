package bridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

// The allocation figures of a check are the bridge's alone: the NATS
// server, the provider fake and the requester run in a peer process (this
// test binary again, with allocPeerEnv set), and this process holds only
// the bridge, so that its malloc count across a run of checks is what
// the bridge spends on them.
const allocPeerEnv = "PAYBRIDGE_ALLOC_PEER"

// allocPayments are the peer's payments, alloc-0000 on: pending,
// unchanged check after check (the common case), and enough of them that
// checks in flight at once are of distinct payments, each its own
// provider call, as in paybench.
const allocPayments = 1024

// peerAddrs is what the peer prints once it serves.
type peerAddrs struct {
	NATS     string `json:"nats"`
	Provider string `json:"provider"`
}

// runAllocPeer is the peer: NATS with JetStream, the CoinbarPay fake over
// loopback HTTP, and a requester that sends n checks one at a time when
// asked on alloc.run. It runs until its standard input closes.
func runAllocPeer() error {
	dir, err := os.MkdirTemp("", "paybridge-alloc-peer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	f, err := coinbar.NewFake(coinbarClientID, coinbarSecret)
	if err != nil {
		return err
	}
	reqs := make([][]byte, allocPayments)
	for i := range reqs {
		id := fmt.Sprintf("alloc-%04d", i)
		if err := f.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC", Steps: []fake.Step{{Status: "PENDING"}}}); err != nil {
			return err
		}
		reqs[i] = []byte(`{"provider":"coinbar","payment_id":"` + id + `"}`)
	}
	var next atomic.Uint64
	hs := httptest.NewServer(f)
	defer hs.Close()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return err
	}
	defer nc.Close()
	// "n" asks for n checks one at a time, "n/c" for n checks by c
	// requesters at once.
	_, err = nc.Subscribe("alloc.run", func(m *nats.Msg) {
		total, conc, _ := strings.Cut(string(m.Data), "/")
		n, _ := strconv.Atoi(total)
		c, _ := strconv.Atoi(conc)
		c = max(c, 1)
		errs := make(chan error, c)
		for i := range c {
			go func() {
				for range n/c + boolInt(i < n%c) {
					req := reqs[next.Add(1)%allocPayments]
					rep, err := nc.Request("payments.check", req, 10*time.Second)
					if err == nil && rep.Header.Get(micro.ErrorCodeHeader) != "" {
						err = fmt.Errorf("check failed: %s", rep.Data)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		var failed error
		for range c {
			if err := <-errs; err != nil && failed == nil {
				failed = err
			}
		}
		if failed != nil {
			_ = m.Respond([]byte(failed.Error()))
			return
		}
		_ = m.Respond([]byte("ok"))
	})
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(peerAddrs{NATS: srv.ClientURL(), Provider: hs.URL}); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// allocWorld is a bridge in this process whose NATS server, provider and
// requester are in the peer.
type allocWorld struct {
	ctl *nats.Conn // asks the peer for runs
}

func newAllocWorld(tb testing.TB) *allocWorld {
	tb.Helper()
	if testing.Short() {
		tb.Skip("starts a peer process")
	}
	peer := exec.Command(os.Args[0], "-test.run=^$")
	peer.Env = append(os.Environ(), allocPeerEnv+"=1")
	peer.Stderr = os.Stderr
	stdin, err := peer.StdinPipe()
	must(tb, err)
	stdout, err := peer.StdoutPipe()
	must(tb, err)
	must(tb, peer.Start())
	tb.Cleanup(func() { stdin.Close(); _ = peer.Wait() })
	var addrs peerAddrs
	must(tb, json.NewDecoder(bufio.NewReader(stdout)).Decode(&addrs))

	client, err := coinbar.New(addrs.Provider, coinbarClientID, coinbar.WithSecretKey(coinbarSecret))
	must(tb, err)
	nc, err := nats.Connect(addrs.NATS)
	must(tb, err)
	tb.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	br, err := bridge.New(ctx, nc, bridge.Config{}, client)
	must(tb, err)
	must(tb, br.Start())
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		br.Close(ctx)
	})
	w := &allocWorld{}
	w.ctl, err = nats.Connect(addrs.NATS)
	must(tb, err)
	tb.Cleanup(w.ctl.Close)
	w.run(tb, 2*allocPayments) // first sight of each, connections, caches and pools warm
	return w
}

// run has the peer send n checks one at a time, and waits for them.
func (w *allocWorld) run(tb testing.TB, n int) { w.runConcurrent(tb, n, 1) }

// runConcurrent has the peer send n checks from c requesters at once.
func (w *allocWorld) runConcurrent(tb testing.TB, n, c int) {
	tb.Helper()
	rep, err := w.ctl.Request("alloc.run", []byte(strconv.Itoa(n)+"/"+strconv.Itoa(c)), time.Duration(n)*time.Second+10*time.Second)
	must(tb, err)
	if string(rep.Data) != "ok" {
		tb.Fatalf("the peer's checks: %s", rep.Data)
	}
}

// allocsPerCheck is the bridge process's mallocs and bytes per check over
// n unchanged checks.
func (w *allocWorld) allocsPerCheck(tb testing.TB, n int) (mallocs, bytes float64) {
	tb.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w.run(tb, n)
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// BenchmarkCheckUnchangedBridgeOnly is BenchmarkCheckUnchanged with only
// the bridge in this process: its allocs/op and B/op are the bridge's own
// (its time includes the peer's work, one check at a time).
func BenchmarkCheckUnchangedBridgeOnly(b *testing.B) {
	w := newAllocWorld(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	w.run(b, b.N)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "bridge-allocs/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "bridge-B/op")
}

// BenchmarkCheckParallelBridgeOnly is BenchmarkCheckUnchangedBridgeOnly
// with 64 requesters at once, as paybench runs them: a CPU profile of it
// (-cpuprofile) is the bridge's alone.
func BenchmarkCheckParallelBridgeOnly(b *testing.B) {
	w := newAllocWorld(b)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := processCPU(b)
	b.ResetTimer()
	w.runConcurrent(b, b.N, 64)
	b.StopTimer()
	cpu = processCPU(b) - cpu
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "bridge-allocs/op")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N), "bridge-B/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "bridge-cpu-ns/op")
}

// processCPU is the CPU time this process has used, user and system: in
// the bridge-only benchmarks, the bridge's.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	must(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// checkAllocBudget is what an unchanged check may allocate in the bridge
// process (docs: README, "Performance"): a check that allocates more
// fails TestCheckAllocationBudget, so that work added to every check is
// seen and weighed. Lower it when a cut lands.
const checkAllocBudget = 67

// TestCheckAllocationBudget: allocations are deterministic enough to
// test, time is not. The race detector allocates on its own account (and
// sync.Pool drops items under it), so the budget is checked without it:
// .ci/run runs this test a second time, without -race.
func TestCheckAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector; .ci/run runs this test without it")
	}
	w := newAllocWorld(t)
	mallocs, bytes := w.allocsPerCheck(t, 500)
	t.Logf("an unchanged check: %.1f allocations, %.0f bytes in the bridge process", mallocs, bytes)
	if mallocs > checkAllocBudget {
		t.Errorf("an unchanged check allocates %.1f times in the bridge, over the budget of %d", mallocs, checkAllocBudget)
	}
}
