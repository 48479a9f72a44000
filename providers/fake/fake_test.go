package fake_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// testDialect is a minimal provider: GET /p/{id} with header X-Key: k.
var testDialect = fake.Dialect{
	PaymentID: func(path string) (string, bool) {
		rest, ok := strings.CutPrefix(path, "/p/")
		if !ok || rest == "" || strings.Contains(rest, "/") {
			return "", false
		}
		id, err := url.PathUnescape(rest)
		return id, err == nil
	},
	Authorized: func(r *http.Request) bool { return r.Header.Get("X-Key") == "k" },
	Render: func(s fake.State) ([]byte, error) {
		return json.Marshal(map[string]any{
			"id": s.Payment.ID, "status": s.Step.Status, "since": s.Since.Format(time.RFC3339Nano),
			"amount": json.Number(s.Payment.Amount),
		})
	},
	ErrorBody: func(status int) []byte { return []byte(`{"error":"` + http.StatusText(status) + `"}`) },
}

type answer struct {
	status     int
	retryAfter string
	body       string
	payment    struct{ ID, Status, Since, Amount string }
}

func newEngine(t *testing.T, opts ...fake.Option) (*fake.Engine, func(id string) answer) {
	t.Helper()
	e, err := fake.New(testDialect, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := e.NewServer()
	t.Cleanup(srv.Close)
	get := func(id string) answer {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/p/"+url.PathEscape(id), nil)
		req.Header.Set("X-Key", "k")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
		if resp.StatusCode == http.StatusOK {
			var m struct {
				ID, Status, Since string
				Amount            json.Number
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("200 body %s: %v", b, err)
			}
			a.payment.ID, a.payment.Status, a.payment.Since, a.payment.Amount = m.ID, m.Status, m.Since, string(m.Amount)
		}
		return a
	}
	return e, get
}

func add(t *testing.T, e *fake.Engine, id string, steps ...fake.Step) {
	t.Helper()
	if err := e.Add(fake.Payment{ID: id, Amount: "8.99", Currency: "EUR", Steps: steps}); err != nil {
		t.Fatal(err)
	}
}

func TestStepsAdvanceByCalls(t *testing.T) {
	e, get := newEngine(t)
	add(t, e, "p1", fake.Step{Status: "A", Calls: 2}, fake.Step{Status: "B", Calls: 1}, fake.Step{Status: "C", Calls: 1})
	var got []string
	for range 5 {
		got = append(got, get("p1").payment.Status)
	}
	if want := "A A B C C"; strings.Join(got, " ") != want {
		t.Fatalf("statuses %v, want %s (the last step holds)", got, want)
	}
	if n := e.Calls("p1"); n != 5 {
		t.Fatalf("Calls = %d, want 5", n)
	}
}

func TestStepsAdvanceByTime(t *testing.T) {
	e, get := newEngine(t)
	add(t, e, "p1", fake.Step{Status: "A", For: 20 * time.Millisecond}, fake.Step{Status: "B"})
	first := get("p1")
	if first.payment.Status != "A" {
		t.Fatalf("first status %q, want A", first.payment.Status)
	}
	deadline := time.Now().Add(5 * time.Second)
	var last answer
	for last = get("p1"); last.payment.Status != "B"; last = get("p1") {
		if time.Now().After(deadline) {
			t.Fatalf("still %q after 5s", last.payment.Status)
		}
	}
	a, _ := time.Parse(time.RFC3339Nano, first.payment.Since)
	b, _ := time.Parse(time.RFC3339Nano, last.payment.Since)
	if got := b.Sub(a); got != 20*time.Millisecond {
		t.Fatalf("B began %s after A, want exactly the 20ms A holds", got)
	}
}

func TestStepWithoutLimitHoldsUntilSet(t *testing.T) {
	e, get := newEngine(t)
	add(t, e, "p1", fake.Step{Status: "A"}, fake.Step{Status: "B"})
	for range 3 {
		if s := get("p1").payment.Status; s != "A" {
			t.Fatalf("status %q, want A to hold", s)
		}
	}
	if err := e.Set("p1", fake.Step{Status: "C", Calls: 1}, fake.Step{Status: "D"}); err != nil {
		t.Fatal(err)
	}
	if s := get("p1").payment.Status; s != "C" {
		t.Fatalf("after Set status %q, want C", s)
	}
	if s := get("p1").payment.Status; s != "D" {
		t.Fatalf("status %q, want D", s)
	}
	if err := e.Set("nope", fake.Step{Status: "X"}); err == nil {
		t.Fatal("Set of an unknown payment succeeded")
	}
}

func TestFaultsAreConsumedInOrder(t *testing.T) {
	e, get := newEngine(t)
	add(t, e, "p1", fake.Step{Status: "A", Calls: 1}, fake.Step{Status: "B"})
	faults := []struct {
		id string
		f  fake.Fault
	}{
		{fake.AnyID, fake.Fault{Times: 1, Status: 500}},
		{"p1", fake.Fault{Times: 2, Status: 503}},
		{"p1", fake.Fault{Times: 1, Status: 429, RetryAfter: "7"}},
		{"p1", fake.Fault{Times: 1, Body: []byte(`{"odd":true}`)}},
	}
	for _, f := range faults {
		if err := e.Fault(f.id, f.f); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		status     int
		retryAfter string
		body       string
	}{
		{503, "", `{"error":"Service Unavailable"}`},
		{503, "", `{"error":"Service Unavailable"}`},
		{429, "7", `{"error":"Too Many Requests"}`},
		{200, "", `{"odd":true}`},
		{500, "", `{"error":"Internal Server Error"}`}, // the id's own faults first, then AnyID's
	}
	for i, w := range want {
		got := get("p1")
		if got.status != w.status || got.retryAfter != w.retryAfter || got.body != w.body {
			t.Fatalf("answer %d: %d %q %s, want %d %q %s", i, got.status, got.retryAfter, got.body, w.status, w.retryAfter, w.body)
		}
	}
	if s := get("p1").payment.Status; s != "A" {
		t.Fatalf("status %q after faults, want A: faulted answers must not advance the script", s)
	}
	if s := get("p1").payment.Status; s != "B" {
		t.Fatalf("status %q, want B", s)
	}
	if n := e.Calls("p1"); n != 7 {
		t.Fatalf("Calls = %d, want 7", n)
	}
}

func TestDelayFaultRespectsRequestContext(t *testing.T) {
	e, err := fake.New(testDialect)
	if err != nil {
		t.Fatal(err)
	}
	srv := e.NewServer()
	defer srv.Close()
	add(t, e, "p1", fake.Step{Status: "A"})
	if err := e.Fault("p1", fake.Fault{Times: 1, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/p/p1", nil)
	req.Header.Set("X-Key", "k")
	start := time.Now()
	if _, err := srv.Client().Do(req); err == nil {
		t.Fatal("a request delayed a minute answered within 50ms")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the client waited past its deadline")
	}
	// Closing the server waits for handlers: it returns only if the
	// delayed handler gave up when its request was abandoned.
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the delayed handler kept running after its request was abandoned")
	}
}

func TestUnknownIDAndUnauthorized(t *testing.T) {
	e, get := newEngine(t)
	if got := get("missing"); got.status != 404 || got.body != `{"error":"Not Found"}` {
		t.Fatalf("unknown id: %d %s", got.status, got.body)
	}
	if n := e.Calls("missing"); n != 1 {
		t.Fatalf("Calls(missing) = %d, want 1", n)
	}
	srv := e.NewServer()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/p/missing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no key: HTTP %d, want 401", resp.StatusCode)
	}
	if n := e.Calls("missing"); n != 1 {
		t.Fatalf("Calls counted an unauthorized request: %d", n)
	}
	if n := len(e.Requests()); n != 2 {
		t.Fatalf("Requests() has %d, want 2 (unauthorized ones included)", n)
	}
}

func TestRequestsRecordRawPathAndDecodedID(t *testing.T) {
	e, get := newEngine(t)
	id := "a/b?c%d#e f ü€"
	add(t, e, id, fake.Step{Status: "A"})
	if got := get(id); got.payment.ID != id || got.payment.Amount != "8.99" {
		t.Fatalf("rendered id %q amount %q, want %q and 8.99", got.payment.ID, got.payment.Amount, id)
	}
	reqs := e.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests recorded", len(reqs))
	}
	r := reqs[0]
	if want := "/p/" + url.PathEscape(id); r.RequestURI != want || r.ID != id || r.Header.Get("X-Key") != "k" {
		t.Fatalf("recorded %+v, want URI %q and id %q", r, want, id)
	}
}

func TestRandomFaultsAreRepeatableWithASeed(t *testing.T) {
	run := func() []int {
		e, get := newEngine(t, fake.WithFaultRates(0.3, 0.2), fake.WithSeed(42), fake.WithLatency(0, time.Millisecond))
		add(t, e, "p1", fake.Step{Status: "A"})
		var out []int
		for range 60 {
			a := get("p1")
			if a.status == 429 && a.retryAfter != "1" {
				t.Fatalf("random 429 with Retry-After %q", a.retryAfter)
			}
			out = append(out, a.status)
		}
		return out
	}
	first, second := run(), run()
	seen := map[int]int{}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("answer %d: %d then %d with the same seed", i, first[i], second[i])
		}
		seen[first[i]/100]++
	}
	if seen[2] == 0 || seen[4] == 0 || seen[5] == 0 {
		t.Fatalf("answers by class %v: want some 2xx, 429 and 5xx", seen)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e, get := newEngine(t)
	add(t, e, "p1", fake.Step{Status: "A", Calls: 50}, fake.Step{Status: "B"})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				get("p1")
			}
		})
	}
	wg.Wait()
	if n := e.Calls("p1"); n != 80 {
		t.Fatalf("Calls = %d, want 80", n)
	}
	if s := get("p1").payment.Status; s != "B" {
		t.Fatalf("status %q after 80 calls, want B", s)
	}
}

func TestValidation(t *testing.T) {
	e, err := fake.New(testDialect)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]fake.Payment{
		"empty id":     {Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "A"}}},
		"float amount": {ID: "x", Amount: "1.2.3", Currency: "EUR", Steps: []fake.Step{{Status: "A"}}},
		"no steps":     {ID: "x", Amount: "1", Currency: "EUR"},
		"bad paid":     {ID: "x", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "A", AmountPaid: "abc"}}},
		"neg calls":    {ID: "x", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: "A", Calls: -1}}},
	}
	for name, p := range bad {
		if err := e.Add(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, f := range []fake.Fault{{Status: 503}, {Times: 1}, {Times: 1, RetryAfter: "1"}, {Times: 1, Status: 42}} {
		if err := e.Fault("x", f); err == nil {
			t.Errorf("fault %+v accepted", f)
		}
	}
	if _, err := fake.New(fake.Dialect{}); err == nil {
		t.Error("empty dialect accepted")
	}
	if _, err := fake.New(testDialect, fake.WithFaultRates(0.8, 0.5)); err == nil {
		t.Error("fault rates adding up to 1.3 accepted")
	}
	if _, err := fake.New(testDialect, fake.WithLatency(time.Second, time.Millisecond)); err == nil {
		t.Error("latency min > max accepted")
	}
}

func TestBodies(t *testing.T) {
	if json.Valid(fake.TruncatedJSON()) {
		t.Error("TruncatedJSON is valid JSON")
	}
	big := fake.OversizedJSON(providers.MaxBodyBytes)
	if len(big) <= providers.MaxBodyBytes || !json.Valid(big) {
		t.Errorf("OversizedJSON: %d bytes, valid %v; want valid JSON over %d", len(big), json.Valid(big), providers.MaxBodyBytes)
	}
	if page := string(fake.HTMLPage(502)); !strings.Contains(page, "502 Bad Gateway") || json.Valid([]byte(page)) {
		t.Errorf("HTMLPage(502) = %s", page)
	}
}

// Several accounts' fakes at one address: each key reaches its own
// account's payments only, and a key none accepts is refused.
func TestAccountsRouteByCredentials(t *testing.T) {
	engine := func(key string) *fake.Engine {
		e, err := fake.New(fake.Dialect{
			PaymentID:  func(p string) (string, bool) { return strings.TrimPrefix(p, "/p/"), strings.HasPrefix(p, "/p/") },
			Authorized: func(r *http.Request) bool { return r.Header.Get("Key") == key },
			Render:     func(s fake.State) ([]byte, error) { return []byte(`{"status":"` + s.Step.Status + `"}`), nil },
			ErrorBody:  func(int) []byte { return []byte(`{}`) },
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var accounts fake.Accounts
	a, b := engine("ka"), engine("kb")
	accounts.Set("a", a)
	accounts.Set("b", b)
	for _, e := range []struct {
		engine *fake.Engine
		status string
	}{{a, "PAID"}, {b, "PENDING"}} {
		if err := e.engine.Add(fake.Payment{ID: "order-1", Amount: "1", Currency: "EUR", Steps: []fake.Step{{Status: e.status}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(&accounts)
	defer srv.Close()
	for key, want := range map[string]string{"ka": `{"status":"PAID"}`, "kb": `{"status":"PENDING"}`, "kc": "401"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/p/order-1", nil)
		req.Header.Set("Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(body)
		if resp.StatusCode != http.StatusOK {
			got = strconv.Itoa(resp.StatusCode)
		}
		if got != want {
			t.Errorf("key %s: %s, want %s", key, got, want)
		}
	}
	if a.Calls("order-1") != 1 || b.Calls("order-1") != 1 {
		t.Errorf("calls: a %d, b %d", a.Calls("order-1"), b.Calls("order-1"))
	}
}
