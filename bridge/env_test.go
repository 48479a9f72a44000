package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
	"github.com/paybridge/paybridge/schemas"
)

const (
	coinbarClientID = "cb-client-id-SECRET"
	coinbarSecret   = "cb-secret-key-SECRET"
	muvinaiKey      = "sf_api_key-SECRET"
	// muvinaiWebhookToken is what a Muvinai notification URL must carry.
	muvinaiWebhookToken = "hook-token"
)

// env is one test's world: an embedded NATS server with JetStream, both
// provider fakes over real HTTP, and clients for them.
type env struct {
	t        *testing.T
	storeDir string
	srv      *server.Server
	port     int
	url      string
	nc       *nats.Conn
	js       jetstream.JetStream
	coinbar  *coinbar.Fake
	muvinai  *muvinai.Fake
	cbURL    string
	mvURL    string
	mvServer *httptest.Server // the Muvinai fake's server
	// calls records when each provider request arrived.
	calls *callLog
	// tune changes the NATS server's configuration from the defaults.
	tune []func(*natsembed.Config)
}

// callLog records the arrival time of every provider request.
type callLog struct {
	mu    sync.Mutex
	times map[string][]time.Time // by provider, and by "<provider> <request URI>"
}

func (l *callLog) wrap(provider string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		l.mu.Lock()
		l.times[provider] = append(l.times[provider], now)
		l.times[provider+" "+r.RequestURI] = append(l.times[provider+" "+r.RequestURI], now)
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// of returns the arrival times of requests for key: a provider name, or a
// provider name, a space and a request URI.
func (l *callLog) of(key string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.times[key])
}

func newEnv(t *testing.T, tune ...func(*natsembed.Config)) *env {
	t.Helper()
	e := &env{t: t, storeDir: t.TempDir(), calls: &callLog{times: map[string][]time.Time{}}, tune: tune}
	e.startNATS()
	t.Cleanup(func() { e.srv.Shutdown(); e.srv.WaitForShutdown() })

	var err error
	e.coinbar, err = coinbar.NewFake(coinbarClientID, coinbarSecret)
	must(t, err)
	cb := httptest.NewServer(e.calls.wrap("coinbar", e.coinbar))
	t.Cleanup(cb.Close)
	e.cbURL = cb.URL
	e.muvinai, err = muvinai.NewFake(muvinaiKey)
	must(t, err)
	mv := httptest.NewServer(e.calls.wrap("muvinai", e.muvinai))
	t.Cleanup(mv.Close)
	e.mvURL, e.mvServer = mv.URL, mv
	e.nc = e.connect()
	e.js, err = jetstream.New(e.nc)
	must(t, err)
	return e
}

// startNATS starts (or restarts, on the same port and store) the server.
func (e *env) startNATS() {
	port := -1
	if e.port != 0 {
		port = e.port
	}
	cfg := natsembed.Config{Host: "127.0.0.1", Port: port, StoreDir: e.storeDir}
	for _, tune := range e.tune {
		tune(&cfg)
	}
	s, err := natsembed.Start(cfg)
	must(e.t, err)
	e.srv, e.url, e.port = s, s.ClientURL(), s.Addr().(*net.TCPAddr).Port
}

func (e *env) connect() *nats.Conn {
	nc, err := nats.Connect(e.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	must(e.t, err)
	e.t.Cleanup(nc.Close)
	return nc
}

// providers returns fresh clients for both fakes, with quick retries.
func (e *env) providers(extra ...providers.HTTPOption) []paybridge.Provider {
	opts := append([]providers.HTTPOption{providers.WithBackoff(time.Millisecond, 5*time.Millisecond)}, extra...)
	cb, err := coinbar.New(e.cbURL, coinbarClientID, coinbar.WithSecretKey(coinbarSecret), coinbar.WithHTTPOptions(opts...))
	must(e.t, err)
	mv, err := muvinai.New(e.mvURL, muvinaiKey, muvinai.WithWebhookToken(muvinaiWebhookToken), muvinai.WithHTTPOptions(opts...))
	must(e.t, err)
	return []paybridge.Provider{cb, mv}
}

// startBridge runs a bridge on its own connection, closed at cleanup.
func (e *env) startBridge(cfg bridge.Config, provs ...paybridge.Provider) *bridge.Bridge {
	e.t.Helper()
	if provs == nil {
		provs = e.providers()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bridge.New(ctx, e.connect(), cfg, provs...)
	must(e.t, err)
	must(e.t, b.Start())
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return b
}

// addPayment adds a payment to a fake in the given raw status.
func (e *env) addCoinbar(id, status, descr string) {
	must(e.t, e.coinbar.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC",
		Steps: []fake.Step{{Status: status, Detail: descr}}}))
}

func (e *env) addMuvinai(id, status, detail, paid string) {
	must(e.t, e.muvinai.Add(fake.Payment{ID: id, Amount: "15000.50", Currency: "ARS",
		Steps: []fake.Step{{Status: status, Detail: detail, AmountPaid: paid}}}))
}

// reply is a decoded answer: exactly one of OK and Err is set.
type reply struct {
	OK     *paybridge.Reply
	Err    *paybridge.ErrorReply
	Header nats.Header
	Raw    []byte
}

// request sends a raw request and validates the answer against its schema.
func (e *env) request(subject string, body []byte) reply {
	e.t.Helper()
	msg, err := e.nc.Request(subject, body, 10*time.Second)
	must(e.t, err)
	return e.decodeReply(msg)
}

func (e *env) decodeReply(msg *nats.Msg) reply {
	e.t.Helper()
	if err := schemas.Validate("check-reply.json", msg.Data); err != nil {
		e.t.Fatalf("reply does not match its schema: %v\n%s", err, msg.Data)
	}
	r := reply{Header: msg.Header, Raw: msg.Data}
	if msg.Header.Get("Nats-Service-Error-Code") != "" {
		r.Err = new(paybridge.ErrorReply)
		must(e.t, json.Unmarshal(msg.Data, r.Err))
		return r
	}
	r.OK = new(paybridge.Reply)
	must(e.t, json.Unmarshal(msg.Data, r.OK))
	return r
}

// check sends a check request built from fields.
func (e *env) check(fields map[string]any) reply {
	e.t.Helper()
	body, err := json.Marshal(fields)
	must(e.t, err)
	return e.request("payments.check", body)
}

// mustCheck checks a payment and fails the test on an error reply.
func (e *env) mustCheck(provider, id string) paybridge.Reply {
	e.t.Helper()
	r := e.check(map[string]any{"provider": provider, "payment_id": id})
	if r.OK == nil {
		e.t.Fatalf("check %s/%s: %s", provider, id, r.Raw)
	}
	return *r.OK
}

// events returns every event stored in the event stream, in order, each
// validated against the data schema.
func (e *env) events() []events.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, "PAYMENT_EVENTS")
	must(e.t, err)
	info, err := s.Info(ctx)
	must(e.t, err)
	var out []events.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		must(e.t, err)
		ev, err := events.Decode(m.Header, m.Data)
		must(e.t, err)
		data := m.Data // binary mode: the body is the data
		if m.Header.Get("ce-specversion") == "" {
			data, err = json.Marshal(ev.Data)
		}
		must(e.t, err)
		schema := "status-changed.json"
		if ev.Type == events.TypeWatchExpired {
			schema = "watch-expired.json"
		}
		if err := schemas.Validate(schema, data); err != nil {
			e.t.Fatalf("event data does not match its schema: %v\n%s", err, data)
		}
		out = append(out, ev)
	}
	return out
}

// eventsFor returns the events of one payment.
func (e *env) eventsFor(id string) []events.Event {
	var out []events.Event
	for _, ev := range e.events() {
		if ev.Data.PaymentID == id {
			out = append(out, ev)
		}
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// parallel runs n functions at once and waits for all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// newMsg builds a message with headers given as name, value pairs.
func newMsg(subject string, data []byte, header ...string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = data
	for i := 0; i+1 < len(header); i += 2 {
		m.Header.Set(header[i], header[i+1])
	}
	return m
}

// stored reads a payment's record straight from the bucket and validates
// it against its schema.
func (e *env) stored(provider, id string) (bridge.Record, bool) {
	e.t.Helper()
	kv, err := e.js.KeyValue(e.t.Context(), "payment_status")
	must(e.t, err)
	entry, err := kv.Get(e.t.Context(), bridge.Key(provider, id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return bridge.Record{}, false
	}
	must(e.t, err)
	if err := schemas.Validate("status-record.json", entry.Value()); err != nil {
		e.t.Fatalf("stored record does not match its schema: %v\n%s", err, entry.Value())
	}
	var rec bridge.Record
	must(e.t, json.Unmarshal(entry.Value(), &rec))
	return rec, true
}
