package bridge

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// FuzzDecodeWatchOrder feeds the watch-order decoder whatever may sit on a
// watch subject: it must never panic, and an order it accepts must be one
// the watcher can act on safely.
func FuzzDecodeWatchOrder(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, seed := range []struct{ subject, data string }{
		{"paybridge.watch.coinbar.order-1", `{"provider":"coinbar","payment_id":"order-1","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch.muvinai.pr_1.trigger", `{"provider":"muvinai","payment_id":"pr_1","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z","trigger":"webhook"}`},
		{"paybridge.watch.coinbar.=YS5i", `{"provider":"coinbar","payment_id":"a.b","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch.muvinai.x", `{"provider":"muvinai","payment_id":"` + strings.Repeat("x", 3000) + `","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch.muvinai.x", `{"provider":"muvinai","payment_id":"a\r\nb","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch." + Key("muvinai", "a\r\nb"), `{"provider":"muvinai","payment_id":"a\r\nb","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch." + Key("coinbar", ".."), `{"provider":"coinbar","payment_id":"..","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
		{"paybridge.watch.coinbar.far", `{"provider":"coinbar","payment_id":"far","since":"2026-01-02T03:04:00Z","deadline":"2027-01-03T03:04:00Z"}`},
		{"paybridge.watch.coinbar.x", `{"provider":"coinbar","payment_id":"x","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z","evil":true}`},
		{"paybridge.watch.coinbar.x", `{"provider":"coinbar"} {"provider":"coinbar"}`},
		{"paybridge.watch.coinbar.x", `[`},
		{"paybridge.watch.coinbar.order-1", `{"provider":"coinbar","payment_id":"order-1","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}]`},
		{"paybridge.watch.coinbar.x", ``},
		{"paybridge.watch.coinbar.shop-1=.order-1", `{"provider":"coinbar","account":"shop-1","payment_id":"order-1","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`},
	} {
		f.Add(seed.subject, []byte(seed.data))
	}
	w := fuzzWatcher(f)
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		o, err := w.decodeWatchOrder(subject, data, now)
		if err != nil {
			return
		}
		if !w.merchants.served(o.Provider) {
			t.Fatalf("accepted an order for provider %q", o.Provider)
		}
		if _, err := validPaymentID([]byte(o.PaymentID)); err != nil {
			t.Fatalf("accepted payment id %q: %v", o.PaymentID, err)
		}
		if _, err := validAccount([]byte(o.Account)); err != nil {
			t.Fatalf("accepted account %q: %v", o.Account, err)
		}
		if !strings.HasPrefix(subject, w.subjectOf(o.payment())) || len(subject) > 500 {
			t.Fatalf("accepted an order for %q on subject %q", o.PaymentID, subject)
		}
		if o.Deadline.After(now.Add(w.deadline+clockSkew)) || o.Deadline.Before(o.Since) {
			t.Fatalf("accepted since %s, deadline %s", o.Since, o.Deadline)
		}
	})
}

// FuzzWatchOrderDecodesAsEncodingJSON holds the watch-order body's own
// decoder to encoding/json, which the bridge writes orders with and read
// them with before: what it accepts, encoding/json decodes alike, and
// what json.Marshal writes of an order it reads back whole.
func FuzzWatchOrderDecodesAsEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"provider":"coinbar","payment_id":"order-1","since":"2026-01-02T03:04:00Z","deadline":"2026-01-03T03:04:00Z"}`,
		`{"provider":"muvinai","account":"shop-1","payment_id":"pr_1","since":"2026-01-02T03:04:00.123456789+02:00","deadline":"2026-01-03T03:04:00Z","trigger":"webhook"}`,
		` { "payment_id" : "a\u0041\ud83d\ude00\n" , "provider":"x"} `,
		`{"provider":"\ud800","payment_id":"\u00e9ÿ"}`,
		`{"since":"2026-01-02T03:04:00\u005a"}`,
		`{"since":"2026-01-02T03:04:00Z","since":"2026-01-02T03:04:01Z"}`,
		`{"Provider":"coinbar"}`,
		`{"provider":null}`,
		`{"since":null}`,
		`{"provider":1}`,
		`{"evil":true}`,
		`{"since":"2026-02-30T03:04:00Z"}`,
		`{"since":"2026-01-02T03:04:00Z"} x`,
		`{}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var ours, theirs watchOrder
		if err := ours.decodeJSON(data); err == nil {
			if err := decodeOneJSON(data, &theirs); err != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", data, err)
			}
			if !sameOrder(ours, theirs) {
				t.Fatalf("%q: decoded %+v, encoding/json %+v", data, ours, theirs)
			}
		} else if decodeOneJSON(data, &theirs) != nil {
			return
		}
		written, err := json.Marshal(theirs)
		if err != nil {
			return // a time json.Marshal cannot write (a year past 9999)
		}
		var back watchOrder
		if err := back.decodeJSON(written); err != nil {
			t.Fatalf("refused %s, as json.Marshal writes an order: %v", written, err)
		}
		if !sameOrder(back, theirs) {
			t.Fatalf("%s: read back %+v, wrote %+v", written, back, theirs)
		}
	})
}

// sameOrder compares the members of two orders a body carries, times
// with their offsets.
func sameOrder(a, b watchOrder) bool {
	return a.Provider == b.Provider && a.Account == b.Account && a.PaymentID == b.PaymentID &&
		a.Trigger == b.Trigger &&
		a.Since.Format(time.RFC3339Nano) == b.Since.Format(time.RFC3339Nano) &&
		a.Deadline.Format(time.RFC3339Nano) == b.Deadline.Format(time.RFC3339Nano)
}

// fuzzWatcher is a watcher with both providers configured; nothing is
// ever sent to them.
func fuzzWatcher(tb testing.TB) *watcher {
	cb, err := coinbar.New("http://127.0.0.1:1", "client-id")
	if err != nil {
		tb.Fatal(err)
	}
	mv, err := muvinai.New("http://127.0.0.1:1", "key")
	if err != nil {
		tb.Fatal(err)
	}
	return &watcher{
		merchants: newMerchants([]paybridge.Provider{cb, mv}, nil, nil, func() *breaker { return newBreaker(1, time.Second) }),
		subject:   "paybridge.watch",
		deadline:  24 * time.Hour,
	}
}

// FuzzReadSchedule feeds a due watch's schedule headers to their reader:
// whatever it accepts is due between the order's since and its deadline,
// and a step it accepts is one the bridge would repeat within the order.
func FuzzReadSchedule(f *testing.F) {
	since := time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	deadline := since.Add(24 * time.Hour)
	due := since.Add(time.Minute).Format(time.RFC3339Nano)
	for _, seed := range [][4]string{
		{due, "1", "", ""},
		{due, "3", "10m0s", since.Add(11 * time.Minute).Format(time.RFC3339Nano)},
		{due, "3", "10m0s", deadline.Add(time.Hour).Format(time.RFC3339Nano)},
		{due, "3", "10m0s", ""},
		{due, "3", "1s", ""},
		{due, "3", "9999h", ""},
		{due, "3", "10m0s", "purge"},
		{"soon", "1", "", ""},
		{due, "-1", "", ""},
		{"", "", "1m", ""},
		{"", "", "", ""},
		{"", "", "", since.Add(time.Minute).Format(time.RFC3339Nano)}, // a firing without its step
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3])
	}
	f.Fuzz(func(t *testing.T, due, rechecks, every, next string) {
		h := nats.Header{}
		for k, v := range map[string]string{dueHeader: due, rechecksHeader: rechecks, everyHeader: every, jetstream.ScheduleNextHeader: next} {
			if v != "" {
				h.Set(k, v)
			}
		}
		o := watchOrder{Since: since, Deadline: deadline}
		if err := o.readSchedule(h, func(t time.Time) time.Time { return t }); err != nil {
			return
		}
		if !o.Due.IsZero() && (o.Due.Before(since) || o.Due.After(deadline)) {
			t.Fatalf("accepted due %s outside %s – %s", o.Due, since, deadline)
		}
		if o.Every != 0 && (o.Every < minRepeatStep || o.Every > deadline.Sub(since)) {
			t.Fatalf("accepted step %s", o.Every)
		}
		if o.Rechecks < 0 || o.Rechecks > maxRechecks {
			t.Fatalf("accepted %d re-checks", o.Rechecks)
		}
	})
}

// BenchmarkDecodeWatchOrder reads a watch's due order, as every re-check
// does.
func BenchmarkDecodeWatchOrder(b *testing.B) {
	w := fuzzWatcher(b)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	data := []byte(`{"provider":"coinbar","payment_id":"order-1","since":"2026-01-02T03:04:00.123456789Z","deadline":"2026-01-03T03:04:00.123456789Z"}`)
	subject := "paybridge.watch." + Key("coinbar", "order-1")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.decodeWatchOrder(subject, data, now); err != nil {
			b.Fatal(err)
		}
	}
}
