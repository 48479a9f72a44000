package bridge_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
)

// The bridge's streams and bucket by their stream names, at the defaults.
var bridgeStreams = []string{"PAYMENT_EVENTS", "KV_payment_status", "PAYMENT_OUTBOX", "PAYMENT_WATCHES"}

// startConfigured starts a NATS server from the text of a configuration
// file, in which every %[1]q is the JetStream store directory dir.
func startConfigured(t *testing.T, dir, conf string) *server.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats.conf")
	must(t, os.WriteFile(path, fmt.Appendf(nil, conf, dir), 0o600))
	opts, err := server.ProcessConfigFile(path)
	must(t, err)
	opts.NoLog, opts.NoSigs = true, true
	s, err := server.NewServer(opts)
	must(t, err)
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("NATS server not ready within 10s")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

// withFileStore is a server whose JetStream may keep size (max_file_store)
// on disk.
func withFileStore(size string) string {
	return `listen: "127.0.0.1:-1"
jetstream { store_dir: %[1]q, max_file_store: ` + size + ` }
`
}

// useServer points e, and the bridges it starts from now on, at s (as the
// user in userinfo, "user:password@", when not empty) instead of its own
// server, which it stops.
func (e *env) useServer(s *server.Server, userinfo string) {
	e.t.Helper()
	e.nc.Close()
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	e.srv = s
	e.url = fmt.Sprintf("nats://%s%s", userinfo, s.Addr())
	e.nc = e.connect()
	var err error
	e.js, err = jetstream.New(e.nc)
	must(e.t, err)
}

// newBridge is startBridge returning New's error instead of failing: a
// bridge on its own connection, started, closed by the returned function
// (and at cleanup).
func (e *env) newBridge(cfg bridge.Config) (func(), error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc := e.connect()
	b, err := bridge.New(ctx, nc, cfg, e.providers()...)
	if err != nil {
		return nil, err
	}
	must(e.t, b.Start())
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
		nc.Close()
	})
	e.t.Cleanup(stop)
	return stop, nil
}

// streamConfig reads a stream's configuration as JetStream holds it now.
func (e *env) streamConfig(name string) jetstream.StreamConfig {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), name)
	must(e.t, err)
	return s.CachedInfo().Config
}

// works checks a payment of id, then watches another: the bridge answers
// checks and stores watches.
func (e *env) works(id string) {
	e.t.Helper()
	e.addCoinbar(id, "PENDING", "")
	if r := e.mustCheck("coinbar", id); r.Status != "pending" {
		e.t.Fatalf("check of %s: %+v", id, r)
	}
	e.addCoinbar(id+"-w", "PENDING", "")
	if r := e.watchCheck("coinbar", id+"-w"); !r.Watching {
		e.t.Fatalf("watch of %s-w: %+v", id, r)
	}
}

// On a fresh server with little JetStream storage the bridge starts and
// works, and its streams reserve nothing: JetStream reserves a byte limit
// up front, and the watch stream's fixed 1 GiB refused a start on a
// server with less.
func TestStartsWithLittleFileStore(t *testing.T) {
	for _, store := range []string{"256MiB", "900MB"} {
		t.Run(store, func(t *testing.T) {
			e := newEnv(t)
			e.useServer(startConfigured(t, t.TempDir(), withFileStore(store)), "")
			if _, err := e.newBridge(bridge.Config{}); err != nil {
				t.Fatalf("New with %s of file store: %v", store, err)
			}
			e.works("little")
			for _, name := range bridgeStreams {
				if got := e.streamConfig(name).MaxBytes; got > 0 {
					t.Errorf("stream %s reserves %d bytes, want none", name, got)
				}
			}
			if c := e.streamConfig("PAYMENT_WATCHES"); !c.AllowMsgSchedules || c.MaxMsgSize <= 0 || c.MaxMsgs > 0 {
				t.Errorf("the watch stream: schedules %v, messages of %d bytes, %d messages; want schedules, a size limit and no count (the bridge keeps it)",
					c.AllowMsgSchedules, c.MaxMsgSize, c.MaxMsgs)
			}
		})
	}
}

// Two instances starting at once on a small server both start, on the
// same assets.
func TestInstancesStartTogetherWithLittleFileStore(t *testing.T) {
	e := newEnv(t)
	e.useServer(startConfigured(t, t.TempDir(), withFileStore("256MiB")), "")
	errs := make([]error, 2)
	parallel(2, func(i int) { _, errs[i] = e.newBridge(bridge.Config{}) })
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	e.works("together")
}

// Assets made while JetStream had room, here a watch stream of 1 GiB as
// the previous version made it, are opened as they are after a restart
// with less: what they reserve is not checked again.
func TestOpensAssetsAsTheyAreAfterTheLimitWasLowered(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	big := startConfigured(t, dir, withFileStore("8GiB"))
	e.useServer(big, "")
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENT_WATCHES", Subjects: []string{"paybridge.watch.>"},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
		MaxMsgs: 1_000_000, MaxBytes: 1 << 30, AllowDirect: true})
	must(t, err)
	stop, err := e.newBridge(bridge.Config{})
	must(t, err)
	e.works("before")
	before := map[string]int64{}
	for _, name := range bridgeStreams {
		before[name] = e.streamConfig(name).MaxBytes
	}
	stop()

	big.Shutdown()
	big.WaitForShutdown()
	e.useServer(startConfigured(t, dir, withFileStore("256MiB")), "")
	if _, err := e.newBridge(bridge.Config{}); err != nil {
		t.Fatalf("New after max_file_store was lowered under what the assets reserve: %v", err)
	}
	for _, name := range bridgeStreams {
		if got := e.streamConfig(name).MaxBytes; got != before[name] {
			t.Errorf("stream %s reserves %d bytes, was %d", name, got, before[name])
		}
	}
	e.works("after")
}

// withAccount is a server with one account, PAY (user pay, password pay),
// whose JetStream limits are limits.
func withAccount(limits string) string {
	return `listen: "127.0.0.1:-1"
jetstream { store_dir: %[1]q }
accounts { PAY { jetstream { ` + limits + ` }, users [{user: pay, password: pay}] } }
`
}

// A watch stream an operator made with limits of their own keeps its byte
// limit, in an account that could not hold the default 1 GiB, and its
// message limit becomes the bridge's to keep: a stream that schedules
// messages would drop its oldest watches at it. Past it, a watch is
// refused as overloaded.
func TestKeepsAnOperatorsWatchStreamLimits(t *testing.T) {
	e := newEnv(t)
	e.useServer(startConfigured(t, t.TempDir(), withAccount("max_file: 512M, max_mem: 16M")), "pay:pay@")
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENT_WATCHES", Subjects: []string{"paybridge.watch.>"},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true,
		MaxMsgs: 1, MaxBytes: 64 << 20, AllowDirect: true})
	must(t, err)
	if _, err := e.newBridge(bridge.Config{}); err != nil {
		t.Fatalf("New with an operator's watch stream: %v", err)
	}
	if c := e.streamConfig("PAYMENT_WATCHES"); c.MaxBytes != 64<<20 || c.MaxMsgs > 0 || c.Metadata["paybridge_max_msgs"] != "1" {
		t.Errorf("the operator's watch stream now has %d bytes, %d messages and metadata %v; want 64 MiB, none and paybridge_max_msgs 1",
			c.MaxBytes, c.MaxMsgs, c.Metadata)
	}
	e.works("operator") // its one watch
	e.addCoinbar("operator-3", "PENDING", "")
	r := e.check(map[string]any{"provider": "coinbar", "payment_id": "operator-3", "watch": true})
	if r.Err == nil || r.Err.Error.Code != paybridge.CodeOverloaded || !strings.Contains(r.Err.Error.Message, "watch stream is full") {
		t.Fatalf("a watch past the stream's limit: %s", r.Raw)
	}
}

// An account that requires a byte limit on every stream gets one on each
// the bridge creates, within what the account may keep.
func TestAccountRequiringByteLimits(t *testing.T) {
	e := newEnv(t)
	const account = 512 * 1000 * 1000
	e.useServer(startConfigured(t, t.TempDir(), withAccount("max_file: 512M, max_mem: 16M, max_bytes_required: true")), "pay:pay@")
	if _, err := e.newBridge(bridge.Config{}); err != nil {
		t.Fatalf("New in an account requiring byte limits: %v", err)
	}
	var total int64
	for _, name := range bridgeStreams {
		got := e.streamConfig(name).MaxBytes
		t.Logf("stream %s reserves %d bytes", name, got)
		if got <= 0 {
			t.Errorf("stream %s has no byte limit", name)
		}
		total += got
	}
	if total > account {
		t.Errorf("the streams reserve %d bytes together, more than the account's %d", total, account)
	}
	e.works("required")
}

// An operator's byte limit for the watch stream is used as it is; one
// JetStream has no room for stops New with the reason; one under 1 MiB
// is refused.
func TestWatchStreamMaxBytesIsUsedAsSet(t *testing.T) {
	e := newEnv(t)
	e.useServer(startConfigured(t, t.TempDir(), withFileStore("256MiB")), "")
	_, err := e.newBridge(bridge.Config{WatchStreamMaxBytes: 300 << 20})
	if err == nil || !strings.Contains(err.Error(), "no room") {
		t.Fatalf("New with a watch stream larger than JetStream: %v", err)
	}
	for _, bad := range []int64{-1, 1000} {
		if _, err := e.newBridge(bridge.Config{WatchStreamMaxBytes: bad}); err == nil || !strings.Contains(err.Error(), "watch stream max bytes") {
			t.Errorf("WatchStreamMaxBytes %d: %v", bad, err)
		}
	}
	if _, err := e.newBridge(bridge.Config{WatchStreamMaxBytes: 100 << 20}); err != nil {
		t.Fatal(err)
	}
	if got := e.streamConfig("PAYMENT_WATCHES").MaxBytes; got != 100<<20 {
		t.Errorf("the watch stream reserves %d bytes, want the 100 MiB set", got)
	}
	e.works("set")
}

// A watch stream an earlier version made without limits schedules
// messages, and gets the size limit a new one has, which reserves nothing.
func TestAnOldWatchStreamSchedulesAndFits(t *testing.T) {
	e := newEnv(t)
	e.useServer(startConfigured(t, t.TempDir(), withFileStore("256MiB")), "")
	_, err := e.js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "PAYMENT_WATCHES", Subjects: []string{"paybridge.watch.>"},
		Retention: jetstream.WorkQueuePolicy, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true})
	must(t, err)
	if _, err := e.newBridge(bridge.Config{}); err != nil {
		t.Fatalf("New with an old watch stream: %v", err)
	}
	if c := e.streamConfig("PAYMENT_WATCHES"); !c.AllowMsgSchedules || c.Discard != jetstream.DiscardOld || c.MaxMsgSize <= 0 || c.MaxBytes > 0 {
		t.Errorf("the old watch stream now schedules %v, discards %v, has messages of %d bytes and reserves %d bytes; want schedules, discard old, a size limit and no reservation",
			c.AllowMsgSchedules, c.Discard, c.MaxMsgSize, c.MaxBytes)
	}
	e.works("old")
}
