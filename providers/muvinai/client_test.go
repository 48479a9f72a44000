package muvinai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
	"github.com/paybridge/paybridge/providers/providertest"
)

func TestSeedBody(t *testing.T) {
	fx := harness().Start(t)
	fx.Fault(t, "text", fake.Fault{Times: 1, Body: providertest.SeedBody(t)})
	got, err := fx.Client.Check(context.Background(), "text")
	if err != nil {
		t.Fatal(err)
	}
	want := paybridge.Result{
		Status: paybridge.StatusPending, ProviderStatus: "pending", ProviderStatusDetail: "not_paid",
		Amount: "1", AmountPaid: "1", Currency: "ARS",
		UpdatedAt: time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestFakeRendersTheDocumentedShape(t *testing.T) {
	fx := harness().Start(t)
	const long = "0.00045145423250897323"
	if err := fx.Engine.Add(fake.Payment{ID: "p1", Amount: "19913.425", Currency: "ARS", Steps: []fake.Step{
		{Status: "approved", Detail: "underpaid", AmountPaid: long},
	}}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, fx.URL+"/payment_requests/p1", nil)
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

	got, err := fx.Client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != paybridge.StatusUnderpaid || got.AmountPaid != long || got.Amount != "19913.425" || got.Currency != "ARS" {
		t.Fatalf("got %+v", got)
	}
	if time.Since(got.UpdatedAt) > time.Minute {
		t.Fatalf("UpdatedAt %s is not when the step began", got.UpdatedAt)
	}
}

func TestNullDetailIsNone(t *testing.T) {
	fx := harness().Start(t)
	fx.Add(t, "p1", fake.Step{Status: "approved"})
	got, err := fx.Client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != paybridge.StatusPaid || got.ProviderStatusDetail != "" || got.AmountPaid != "0" {
		t.Fatalf("got %+v, want paid with no detail and amount_paid 0", got)
	}
}

func TestValidationErrorIs422(t *testing.T) {
	fx := harness().Start(t)
	body := `{"detail":[{"loc":["path","payment_request_id"],"msg":"Input should be a valid ObjectId","type":"value_error","input":"x"}]}`
	fx.Fault(t, "x", fake.Fault{Times: 5, Status: 422, Body: []byte(body)})
	_, err := fx.Client.Check(context.Background(), "x")
	providertest.WantCode(t, err, paybridge.CodeProviderBadResponse)
	if msg := paybridge.ErrorMessage(err); !strings.Contains(msg, "path.payment_request_id: Input should be a valid ObjectId") || !strings.Contains(msg, "422") {
		t.Errorf("message %q does not say what Muvinai refused", msg)
	}
	if n := fx.Engine.Calls("x"); n != 1 {
		t.Errorf("422: fake saw %d calls, want 1", n)
	}
}

func TestBodiesThatLie(t *testing.T) {
	providertest.CheckLyingBodies(t, harness(), map[string]providertest.LyingBody{
		"status a number":    {Body: `{"status": 5}`, Names: "status"},
		"no status":          {Body: `{"status_detail": "correct"}`, Names: "status"},
		"amount a word":      {Body: `{"status": "approved", "amount": "ten"}`, Names: "amount"},
		"paid a bool":        {Body: `{"status": "approved", "amount_paid": true}`, Names: "amount_paid"},
		"detail a list":      {Body: `{"status": "approved", "status_detail": []}`, Names: "status_detail"},
		"currency a number":  {Body: `{"status": "approved", "currency": 32}`, Names: "currency"},
		"bad last_modified":  {Body: `{"status": "approved", "last_modified": "30/08/2025"}`, Names: "last_modified"},
		"another payment":    {Body: `{"status": "approved", "id": "someone-else"}`, Names: "someone-else"},
		"id a number":        {Body: `{"status": "approved", "id": 7}`, Names: "id"},
		"detail FastAPI 200": {Body: `{"detail": "Not authenticated"}`, Names: "status"},
	})
}

func TestTolerantTimes(t *testing.T) {
	fx := harness().Start(t)
	cases := map[string]time.Time{
		`"2025-08-30T20:38:30.887000"`:     time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
		`"2025-08-30T20:38:30.887+00:00"`:  time.Date(2025, 8, 30, 20, 38, 30, 887_000_000, time.UTC),
		`"2025-08-30T17:38:30-03:00"`:      time.Date(2025, 8, 30, 20, 38, 30, 0, time.UTC),
		`null`:                             {},
		`"2025-08-30T20:38:30.123456789Z"`: time.Date(2025, 8, 30, 20, 38, 30, 123456789, time.UTC),
	}
	for v, want := range cases {
		fx.Fault(t, "p1", fake.Fault{Times: 1, Body: []byte(`{"status": "pending", "last_modified": ` + v + `}`)})
		got, err := fx.Client.Check(context.Background(), "p1")
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !got.UpdatedAt.Equal(want) {
			t.Errorf("%s: UpdatedAt %s, want %s", v, got.UpdatedAt, want)
		}
	}
}

// TestNewValidatesTheAPIKey: the shared scenarios check base URLs and
// HTTP options; the API key is Muvinai's own.
func TestNewValidatesTheAPIKey(t *testing.T) {
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

// TestValidationErrorRedactsBeforeCutting: a 422 that echoes the API key
// across the point where the quoted detail is cut (200 bytes), or a key
// that quoting would escape, shows no part of it.
func TestValidationErrorRedactsBeforeCutting(t *testing.T) {
	cases := []struct {
		key string
		pad int // bytes of the detail before the key: "header: " + pad + " for bearer "
	}{
		{testAPIKey, 200 - 8 - 12 - 8}, // the cut leaves the key's first 8 bytes
		{`sf_api_"key"_5c81`, 10},      // whole, but %q writes it as sf_api_\"key\"_5c81
	}
	for _, tc := range cases {
		key := tc.key
		f, err := muvinai.NewFake(key)
		if err != nil {
			t.Fatal(err)
		}
		srv := f.NewServer()
		t.Cleanup(srv.Close)
		c, err := muvinai.New(srv.URL, key)
		if err != nil {
			t.Fatal(err)
		}
		msg := strings.Repeat("m", tc.pad) + " for bearer " + key
		body, _ := json.Marshal(map[string]any{"detail": []any{map[string]any{"loc": []any{"header"}, "msg": msg}}})
		if err := f.Fault("x", fake.Fault{Times: 1, Status: 422, Body: body}); err != nil {
			t.Fatal(err)
		}
		_, err = c.Check(context.Background(), "x")
		providertest.WantCode(t, err, paybridge.CodeProviderBadResponse)
		if text := err.Error(); strings.Contains(text, "sf_api_") || !strings.Contains(text, "HTTP 422") {
			t.Errorf("key %q: error %q shows part of the key or not the status", key, text)
		}
	}
}

func TestFieldsAreCapped(t *testing.T) {
	providertest.CheckCaps(t, harness(), capsBody, map[string]providertest.Lands{
		"status":        providertest.InProviderStatus,
		"status_detail": providertest.InProviderStatusDetail,
		"currency":      providertest.InCurrency,
		"amount":        providertest.InAmount,
		"amount_paid":   providertest.InAmountPaid,
		"last_modified": providertest.InUpdatedAt,
		"id":            providertest.AsPaymentID,
	})
}

// capsBody is a status body holding values by field name, amounts as JSON
// numbers.
func capsBody(values map[string]string) []byte {
	body := map[string]any{}
	for field, v := range values {
		if field == "amount" || field == "amount_paid" {
			body[field] = json.Number(v)
		} else {
			body[field] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}
