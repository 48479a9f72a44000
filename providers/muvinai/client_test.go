package muvinai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

func TestSeedBody(t *testing.T) {
	fx := newFixture(t)
	fx.fault(t, "text", fake.Fault{Times: 1, Body: seedBody(t)})
	got, err := fx.client.Check(context.Background(), "text")
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Result{
		Status: providers.StatusPending, ProviderStatus: "pending", ProviderStatusDetail: "not_paid",
		Amount: "1", AmountPaid: "1", Currency: "ARS",
		UpdatedAt: time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestFakeRendersTheDocumentedShape(t *testing.T) {
	fx := newFixture(t)
	const long = "0.00045145423250897323"
	if err := fx.fake.Add(fake.Payment{ID: "p1", Amount: "19913.425", Currency: "ARS", Steps: []fake.Step{
		{Status: "approved", Detail: "underpaid", AmountPaid: long},
	}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, fx.url+"/payment_requests/p1", nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(raw, []byte(`"amount_paid":`+long)) || !bytes.Contains(raw, []byte(`"amount":19913.425`)) {
		t.Fatalf("amounts are not raw JSON numbers with the exact text: %s", raw)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "order_id", "amount", "amount_paid", "currency", "status", "status_detail",
		"date_created", "last_modified", "expiration_time", "checkout_url", "transactions", "approved_at"} {
		if _, ok := body[k]; !ok {
			t.Errorf("field %s missing from %s", k, raw)
		}
	}
	if string(body["transactions"]) != "[]" {
		t.Errorf("transactions %s, want []", body["transactions"])
	}

	got, err := fx.client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != providers.StatusUnderpaid || got.AmountPaid != long || got.Amount != "19913.425" || got.Currency != "ARS" {
		t.Fatalf("got %+v", got)
	}
	if time.Since(got.UpdatedAt) > time.Minute {
		t.Fatalf("UpdatedAt %s is not when the step began", got.UpdatedAt)
	}
}

func TestNullDetailIsNone(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p1", fake.Step{Status: "approved"})
	got, err := fx.client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != providers.StatusPaid || got.ProviderStatusDetail != "" || got.AmountPaid != "0" {
		t.Fatalf("got %+v, want paid with no detail and amount_paid 0", got)
	}
}

func TestRetriesA503(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p1", fake.Step{Status: "approved", Detail: "correct"})
	fx.fault(t, "p1", fake.Fault{Times: 1, Status: 503, Body: fake.HTMLPage(503)})
	got, err := fx.client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != providers.StatusPaid {
		t.Fatalf("status %s, want paid", got.Status)
	}
	if n := fx.fake.Calls("p1"); n != 2 {
		t.Fatalf("fake saw %d calls, want 2", n)
	}
}

func TestHonoursRetryAfter(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p1", fake.Step{Status: "pending"})
	fx.fault(t, "p1", fake.Fault{Times: 1, Status: 429, RetryAfter: "1"})
	start := time.Now()
	if _, err := fx.client.Check(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("took %s, want about the 1s Retry-After asked", elapsed)
	}
	if n := fx.fake.Calls("p1"); n != 2 {
		t.Fatalf("fake saw %d calls, want 2", n)
	}
}

func TestRateLimitAfterRetries(t *testing.T) {
	fx := newFixture(t)
	fx.fault(t, "p1", fake.Fault{Times: 10, Status: 429})
	_, err := fx.client.Check(context.Background(), "p1")
	wantCode(t, err, providers.CodeProviderRateLimited)
	if n := fx.fake.Calls("p1"); n != 4 {
		t.Fatalf("fake saw %d calls, want 4", n)
	}
}

func TestClientErrorsAreNotRetried(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p400", fake.Step{Status: "pending"})
	fx.fault(t, "p400", fake.Fault{Times: 5, Status: 400})
	_, err := fx.client.Check(context.Background(), "p400")
	wantCode(t, err, providers.CodeProviderBadResponse)
	if n := fx.fake.Calls("p400"); n != 1 {
		t.Errorf("400: fake saw %d calls, want 1", n)
	}

	_, err = fx.client.Check(context.Background(), "nobody")
	wantCode(t, err, providers.CodePaymentNotFound)
	if n := fx.fake.Calls("nobody"); n != 1 {
		t.Errorf("404: fake saw %d calls, want 1", n)
	}
}

func TestValidationErrorIs422(t *testing.T) {
	fx := newFixture(t)
	body := `{"detail":[{"loc":["path","payment_request_id"],"msg":"Input should be a valid ObjectId","type":"value_error","input":"x"}]}`
	fx.fault(t, "x", fake.Fault{Times: 5, Status: 422, Body: []byte(body)})
	_, err := fx.client.Check(context.Background(), "x")
	wantCode(t, err, providers.CodeProviderBadResponse)
	if msg := providers.ErrorMessage(err); !strings.Contains(msg, "path.payment_request_id: Input should be a valid ObjectId") || !strings.Contains(msg, "422") {
		t.Errorf("message %q does not say what Muvinai refused", msg)
	}
	if n := fx.fake.Calls("x"); n != 1 {
		t.Errorf("422: fake saw %d calls, want 1", n)
	}
}

func TestWrongAPIKey(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p1", fake.Step{Status: "pending"})
	c, err := muvinai.New(fx.url, "sf_api_key_wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(context.Background(), "p1")
	wantCode(t, err, providers.CodeProviderAuthFailed)
	if strings.Contains(err.Error(), "sf_api_key_wrong") {
		t.Fatalf("error %q shows the key", err)
	}
	if n := len(fx.fake.Requests()); n != 1 {
		t.Fatalf("fake got %d requests, want 1: a 401 is not retried", n)
	}
}

func TestUnreadableBodies(t *testing.T) {
	fx := newFixture(t)
	cases := map[string]fake.Fault{
		"truncated JSON":  {Times: 1, Body: fake.TruncatedJSON()},
		"over 1 MiB":      {Times: 1, Body: fake.OversizedJSON()},
		"HTML error page": {Times: 1, Body: fake.HTMLPage(200)},
		"JSON string":     {Times: 1, Body: []byte(`"ok"`)},
	}
	for name, f := range cases {
		id := "bad-" + strings.ReplaceAll(name, " ", "-")
		fx.fault(t, id, f)
		_, err := fx.client.Check(context.Background(), id)
		wantCode(t, err, providers.CodeProviderBadResponse)
		if !strings.Contains(providers.ErrorMessage(err), "muvinai") {
			t.Errorf("%s: message %q does not name the provider", name, providers.ErrorMessage(err))
		}
	}
}

func TestBodiesThatLie(t *testing.T) {
	fx := newFixture(t)
	cases := map[string]struct{ body, field string }{
		"status a number":    {`{"status": 5}`, "status"},
		"no status":          {`{"status_detail": "correct"}`, "status"},
		"amount a word":      {`{"status": "approved", "amount": "ten"}`, "amount"},
		"paid a bool":        {`{"status": "approved", "amount_paid": true}`, "amount_paid"},
		"detail a list":      {`{"status": "approved", "status_detail": []}`, "status_detail"},
		"currency a number":  {`{"status": "approved", "currency": 32}`, "currency"},
		"bad last_modified":  {`{"status": "approved", "last_modified": "30/08/2025"}`, "last_modified"},
		"another payment":    {`{"status": "approved", "id": "someone-else"}`, "someone-else"},
		"id a number":        {`{"status": "approved", "id": 7}`, "id"},
		"detail FastAPI 200": {`{"detail": "Not authenticated"}`, "status"},
	}
	for name, c := range cases {
		fx.fault(t, "liar", fake.Fault{Times: 1, Body: []byte(c.body)})
		_, err := fx.client.Check(context.Background(), "liar")
		wantCode(t, err, providers.CodeProviderBadResponse)
		if !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %q does not name %s", name, err, c.field)
		}
	}
}

func TestTolerantTimes(t *testing.T) {
	fx := newFixture(t)
	cases := map[string]time.Time{
		`"2025-08-30T20:38:30.887000"`:     time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
		`"2025-08-30T20:38:30.887+00:00"`:  time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
		`"2025-08-30T17:38:30-03:00"`:      time.Date(2025, 8, 30, 20, 38, 30, 0, time.UTC),
		`null`:                             {},
		`"2025-08-30T20:38:30.123456789Z"`: time.Date(2025, 8, 30, 20, 38, 30, 123456789, time.UTC),
	}
	for v, want := range cases {
		fx.fault(t, "p1", fake.Fault{Times: 1, Body: []byte(`{"status": "pending", "last_modified": ` + v + `}`)})
		got, err := fx.client.Check(context.Background(), "p1")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !got.UpdatedAt.Equal(want) {
			t.Errorf("%s: UpdatedAt %s, want %s", v, got.UpdatedAt, want)
		}
	}
}

func TestPaymentIDsReachTheProviderByteForByte(t *testing.T) {
	fx := newFixture(t)
	for _, id := range []string{"a/b?c%d#e f ü€", "semi;colon:plus+at@", "%2F", "..."} {
		fx.add(t, id, fake.Step{Status: "approved", Detail: "correct"})
		got, err := fx.client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if got.Status != providers.StatusPaid {
			t.Fatalf("%q: status %s", id, got.Status)
		}
		reqs := fx.fake.Requests()
		last := reqs[len(reqs)-1]
		wantURI := muvinai.PathPrefix + url.PathEscape(id)
		if last.ID != id || last.RequestURI != wantURI {
			t.Fatalf("fake got id %q at %q, want %q at %q", last.ID, last.RequestURI, id, wantURI)
		}
		if h := last.Header.Get("Authorization"); h != "Bearer "+testAPIKey {
			t.Fatalf("Authorization %q", h)
		}
	}
}

func TestDotSegmentsAreRefused(t *testing.T) {
	fx := newFixture(t)
	for _, id := range []string{".", "..", ""} {
		_, err := fx.client.Check(context.Background(), id)
		wantCode(t, err, providers.CodeInvalidRequest)
	}
	if n := len(fx.fake.Requests()); n != 0 {
		t.Fatalf("%d requests were sent for ids that were refused", n)
	}
}

func TestLogsAndErrorsHoldNoCredentials(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fx := newFixture(t, providers.WithLogger(logger))
	fx.fault(t, "p1", fake.Fault{Times: 10, Status: 502})
	_, err := fx.client.Check(context.Background(), "p1")
	wantCode(t, err, providers.CodeProviderUnavailable)
	logs := buf.String()
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, "p1") {
		t.Fatalf("the failing call was not logged:\n%s", logs)
	}
	if strings.Contains(logs, testAPIKey) || strings.Contains(err.Error(), testAPIKey) {
		t.Fatalf("API key leaked:\nerror: %v\nlogs:\n%s", err, logs)
	}
}

func TestDeadlineIsATimeout(t *testing.T) {
	fx := newFixture(t)
	fx.add(t, "p1", fake.Step{Status: "pending"})
	fx.fault(t, "p1", fake.Fault{Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := fx.client.Check(ctx, "p1")
	wantCode(t, err, providers.CodeProviderTimeout)
}

func TestNewValidates(t *testing.T) {
	for _, base := range []string{"api.simplefi.tech", "ftp://api.simplefi.tech", "https://", "https://api.simplefi.tech#x", "https://u:hunter2@api.simplefi.tech"} {
		_, err := muvinai.New(base, testAPIKey)
		if err == nil {
			t.Errorf("%q accepted", base)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q shows a credential", err)
		}
	}
	for _, key := range []string{"", "key\nX-Evil: 1"} {
		if _, err := muvinai.New("https://api.simplefi.tech", key); err == nil {
			t.Errorf("api key %q accepted", key)
		}
	}
	c, err := muvinai.New("https://api.simplefi.tech/", testAPIKey)
	if err != nil || c.Name() != "muvinai" {
		t.Fatalf("New: %v", err)
	}
}

// seedBody is the 200 example of Muvinai's status page, verbatim
// (testdata/seed-status.json).
func seedBody(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-status.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
