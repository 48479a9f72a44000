package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/internal/testkit"
)

// A record expires its retention after it was written, and a later check
// of the payment is a first sight again; a watched payment's record lives
// as long as its watch.
func TestRecordsExpireAfterTheirRetention(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{StatusRetention: 2 * time.Second})
	e.addCoinbar("short", "SUCCESS", "")
	e.addMuvinai("watched", "pending", "not_paid", "0")
	e.mustCheck("coinbar", "short")
	if r := e.watchCheck("muvinai", "watched"); !r.Watching {
		t.Fatalf("watch: %+v", r)
	}
	testkit.WaitFor(t, 10*time.Second, "the settled record to expire", func() bool {
		_, ok := e.stored("coinbar", "short")
		return !ok
	})
	if _, ok := e.stored("muvinai", "watched"); !ok {
		t.Fatal("the record of a watched payment expired with its watch in force")
	}
	// Expired: the next check is a first sight again. Its event is the
	// same first sight as before (same status, same id), so the stream,
	// and a consumer deduplicating by id, keeps it once.
	r := e.mustCheck("coinbar", "short")
	if !r.Changed || r.PreviousStatus != nil || r.Status != paybridge.StatusPaid {
		t.Fatalf("after expiry: %+v", r)
	}
	evs := e.eventsFor("short")
	if len(evs) != 1 || evs[0].ID != r.EventID {
		t.Fatalf("events %+v, reply's event %s", evs, r.EventID)
	}
	if rec, ok := e.stored("coinbar", "short"); !ok || !rec.Published {
		t.Fatalf("stored again: %+v", rec)
	}
}

// fillBucket stores n settled, published records straight into the bucket,
// as a year of payments leaves it.
func (e *env) fillBucket(n int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		id := fmt.Sprintf("old-%06d", i)
		rec := bridge.Record{StatusChanged: events.StatusChanged{Provider: "coinbar", PaymentID: id, Status: paybridge.StatusPaid,
			Terminal: true, ProviderStatus: "SUCCESS", Amount: "1", Currency: "EUR", ObservedAt: time.Now().UTC(), Revision: uint64(i + 1)},
			EventID: bridge.EventID("coinbar", id, 0, paybridge.StatusPaid), Published: true}
		value, err := json.Marshal(rec)
		must(e.t, err)
		for {
			_, err := e.js.PublishAsync("$KV.payment_status."+bridge.Key("coinbar", id), value)
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				must(e.t, err)
				break
			}
			e.publishesAcked(ctx) // a busy machine: let the server catch up
		}
	}
	e.publishesAcked(ctx)
}

// publishesAcked waits until every async publish is acknowledged.
func (e *env) publishesAcked(ctx context.Context) {
	e.t.Helper()
	select {
	case <-e.js.PublishAsyncComplete():
	case <-ctx.Done():
		e.t.Fatal("filling the bucket timed out")
	}
}

// A bridge reads nothing of the bucket's history to start: its view starts
// empty and fills from checks, and the reconciler reads the outbox.
func TestStartReadsNoStoredRecord(t *testing.T) {
	e := newEnv(t)
	first := e.startBridge(bridge.Config{})
	must(t, first.Close(t.Context()))
	const stored = 10_000
	e.fillBucket(stored)

	nc := e.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bridge.New(ctx, nc, bridge.Config{ReconcileInterval: 50 * time.Millisecond}, e.providers()...)
	must(t, err)
	must(t, b.Start())
	t.Cleanup(func() { b.Close(context.Background()) })
	// Let the watches and a few reconciler rounds run.
	before := nc.Stats().InMsgs
	testkit.WaitFor(t, 5*time.Second, "reconciler rounds", func() bool { return nc.Stats().InMsgs > before+5 })
	if got := nc.Stats().InMsgs; got > 500 {
		t.Fatalf("the bridge received %d messages after start, with %d records stored", got, stored)
	}
	// A stored payment is read when it is asked about.
	msg, err := e.nc.Request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"old-004321"}`), 5*time.Second)
	must(t, err)
	if r := e.decodeReply(msg); r.OK == nil || r.OK.Status != paybridge.StatusPaid || r.OK.Source != paybridge.SourceStore {
		t.Fatalf("lookup: %s", r.Raw)
	}
}

// A bucket made without per-message TTL, by a version before retention,
// is not rewritten: the bridge says what an operator must do, and works
// without expiry. Once the operator has allowed TTLs, records expire.
func TestBucketWithoutTTLIsMigratedByTheOperator(t *testing.T) {
	e := newEnv(t)
	_, err := e.js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "payment_status"})
	must(t, err)
	var logs testkit.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	b := e.startBridge(bridge.Config{StatusRetention: time.Second, Logger: log})
	if !strings.Contains(logs.String(), "--allow-msg-ttl") {
		t.Fatalf("no migration step logged:\n%s", logs.String())
	}
	e.addCoinbar("kept", "SUCCESS", "")
	e.mustCheck("coinbar", "kept")
	must(t, b.Close(t.Context()))

	// The operator's step: allow message TTLs and markers on its stream.
	s, err := e.js.Stream(t.Context(), "KV_payment_status")
	must(t, err)
	cfg := s.CachedInfo().Config
	cfg.AllowMsgTTL, cfg.SubjectDeleteMarkerTTL = true, 15*time.Minute
	_, err = e.js.UpdateStream(t.Context(), cfg)
	must(t, err)

	e.startBridge(bridge.Config{StatusRetention: time.Second})
	e.addCoinbar("expiring", "SUCCESS", "")
	e.mustCheck("coinbar", "expiring")
	testkit.WaitFor(t, 10*time.Second, "the record written after the migration to expire", func() bool {
		_, ok := e.stored("coinbar", "expiring")
		return !ok
	})
	if _, ok := e.stored("coinbar", "kept"); !ok {
		t.Fatal("a record written without TTL expired")
	}
}

// With a view smaller than the payments checked, every check is still
// right: a forgotten payment is read from KV again.
func TestSmallViewStaysCorrect(t *testing.T) {
	e := newEnv(t)
	e.startBridge(bridge.Config{CacheSize: 2})
	for i := range 5 {
		e.addCoinbar(fmt.Sprintf("lru-%d", i), "PENDING", "")
	}
	for round := range 3 {
		for i := range 5 {
			r := e.mustCheck("coinbar", fmt.Sprintf("lru-%d", i))
			if r.Changed != (round == 0) || r.Status != paybridge.StatusPending {
				t.Fatalf("round %d, payment %d: %+v", round, i, r)
			}
		}
	}
	if n := len(e.events()); n != 5 {
		t.Fatalf("%d events, want one per payment", n)
	}
}

// A NATS restart costs the bridge what a start costs: its view follows the
// bucket from where it stopped, and reads none of the records stored
// before, also when it had seen no update yet (a KV watch then restarted
// from the first record: 13 s of CPU at 1,000,000 records).
func TestNATSRestartReplaysNothing(t *testing.T) {
	e := newEnv(t)
	first := e.startBridge(bridge.Config{})
	must(t, first.Close(t.Context()))
	const stored = 10_000
	e.fillBucket(stored)

	nc := e.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bridge.New(ctx, nc, bridge.Config{}, e.providers()...)
	must(t, err)
	must(t, b.Start())
	t.Cleanup(func() { b.Close(context.Background()) })
	testkit.WaitFor(t, 5*time.Second, "the bridge to answer", func() bool {
		msg, err := e.nc.Request("payments.status.get", []byte(`{"provider":"coinbar","payment_id":"old-000001"}`), time.Second)
		return err == nil && e.decodeReply(msg).OK != nil
	})

	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	before := nc.Stats().InMsgs
	e.startNATS()
	testkit.WaitFor(t, 10*time.Second, "the bridge to reconnect", func() bool { return nc.IsConnected() })
	// An update written after the restart reaches the view: the follower
	// is following again.
	kv, err := e.js.KeyValue(t.Context(), "payment_status")
	must(t, err)
	var rev uint64
	testkit.WaitFor(t, 10*time.Second, "a write after the restart", func() bool {
		entry, err := kv.Get(t.Context(), bridge.Key("coinbar", "old-000001"))
		if err != nil {
			return false
		}
		rev, err = kv.Update(t.Context(), entry.Key(), entry.Value(), entry.Revision())
		return err == nil
	})
	// The follower learns that its consumer is gone within a fetch's wait
	// (5 s) and follows again a second later. The poll's deadline is wider
	// than that: a fetch begun just before the restart waits its 5 s, and
	// with the retry and the new consumer it passed 10 s once under -race
	// on a loaded CI machine (a deadline to wait for, not a target).
	testkit.WaitFor(t, 30*time.Second, "the follower to deliver it", func() bool { return b.WatchedRevision() >= rev })
	if got := nc.Stats().InMsgs - before; got > 500 {
		t.Fatalf("the bridge received %d messages after the NATS restart, with %d records stored", got, stored)
	}
}

// The follower's consumer is its own, in memory: when it is lost (an
// operator deletes it, say), the follower makes another after the last
// update it delivered, and the view misses no write.
func TestFollowerOutlivesItsConsumer(t *testing.T) {
	e := newEnv(t)
	b := e.startBridge(bridge.Config{ReconcileInterval: 50 * time.Millisecond})
	e.addCoinbar("follow-1", "PENDING", "")
	e.mustCheck("coinbar", "follow-1")
	kv, err := e.js.KeyValue(t.Context(), "payment_status")
	must(t, err)
	key := bridge.Key("coinbar", "follow-1")
	write := func() uint64 {
		entry, err := kv.Get(t.Context(), key)
		must(t, err)
		rev, err := kv.Update(t.Context(), key, entry.Value(), entry.Revision())
		must(t, err)
		return rev
	}
	first := write()
	testkit.WaitFor(t, 5*time.Second, "the follower to deliver a write", func() bool { return b.WatchedRevision() >= first })

	stream, err := e.js.Stream(t.Context(), "KV_payment_status")
	must(t, err)
	deleted := 0
	for name := range stream.ConsumerNames(t.Context()).Name() {
		must(t, stream.DeleteConsumer(t.Context(), name))
		deleted++
	}
	if deleted == 0 {
		t.Fatal("no consumer follows the status bucket")
	}
	second := write()
	testkit.WaitFor(t, 10*time.Second, "the follower to deliver the write after its consumer was deleted",
		func() bool { return b.WatchedRevision() >= second })
}
