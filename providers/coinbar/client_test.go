package coinbar_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/providertest"
)

func TestSeedBodyKeepsEveryDigit(t *testing.T) {
	fx := harness("").Start(t)
	const id = "XxYyWwZz-XxYy-XxYy-XxYy-XxYyWwZz"
	fx.Fault(t, id, fake.Fault{Times: 1, Body: providertest.SeedBody(t)})
	got, err := fx.Client.Check(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := paybridge.Result{
		Status: paybridge.StatusExpired, ProviderStatus: "FAILED", ProviderStatusDetail: "Timeout",
		Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC",
		UpdatedAt: time.Date(2022, 5, 11, 12, 30, 35, 59_000_000, time.UTC),
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestFakeRendersExactDecimals(t *testing.T) {
	fx := harness(testSecretKey).Start(t)
	fx.Add(t, "p1", fake.Step{Status: "PENDING"})
	got, err := fx.Client.Check(context.Background(), "p1")
	if err != nil {
		t.Fatal(err)
	}
	if got.CryptoAmount != "0.00045145423250897323" || got.Amount != "8.99" || got.Currency != "EUR" || got.CryptoCurrency != "BTC" {
		t.Fatalf("amounts %q %q %q %q", got.CryptoAmount, got.Amount, got.Currency, got.CryptoCurrency)
	}
	if time.Since(got.UpdatedAt) > time.Minute || got.UpdatedAt.After(time.Now()) {
		t.Fatalf("UpdatedAt %s is not when the step began", got.UpdatedAt)
	}
}

// TestBadRequestQuotesTheProvider: a 400 refusal is not retried and its
// error quotes CoinbarPay's words (the shared 400 scenario checks the rest).
func TestBadRequestQuotesTheProvider(t *testing.T) {
	fx := harness(testSecretKey).Start(t)
	fx.Add(t, "p400", fake.Step{Status: "PENDING"})
	fx.Fault(t, "p400", fake.Fault{Times: 5, Status: 400, Body: []byte(`{"result": false, "error": "Bad Request"}`)})
	_, err := fx.Client.Check(context.Background(), "p400")
	providertest.WantCode(t, err, paybridge.CodeProviderBadResponse)
	if !strings.Contains(err.Error(), "Bad Request") {
		t.Errorf("error %q does not quote the provider's words", err)
	}
	if n := fx.Engine.Calls("p400"); n != 1 {
		t.Errorf("400: fake saw %d calls, want 1", n)
	}
}

func TestBodiesThatLie(t *testing.T) {
	providertest.CheckLyingBodies(t, harness(testSecretKey), map[string]providertest.LyingBody{
		"status a number":    {Body: `{"status": 5}`, Names: "status"},
		"no status":          {Body: `{"status_descr": "Timeout"}`, Names: "status"},
		"empty status":       {Body: `{"status": ""}`, Names: "status"},
		"amount a word":      {Body: `{"status": "SUCCESS", "payment_detail": {"total_price": "abc"}}`, Names: "payment_detail.total_price"},
		"amount an object":   {Body: `{"status": "SUCCESS", "payment_detail": {"destination_amount": {}}}`, Names: "payment_detail.destination_amount"},
		"coin a number":      {Body: `{"status": "SUCCESS", "payment_detail": {"destination_coin": 1}}`, Names: "payment_detail.destination_coin"},
		"detail a string":    {Body: `{"status": "SUCCESS", "payment_detail": "none"}`, Names: "payment_detail"},
		"bad update_time":    {Body: `{"status": "SUCCESS", "update_time": "yesterday"}`, Names: "update_time"},
		"another payment":    {Body: `{"status": "SUCCESS", "payment_request_id_client": "someone-else"}`, Names: "someone-else"},
		"descr a bool":       {Body: `{"status": "FAILED", "status_descr": true}`, Names: "status_descr"},
		"update_time number": {Body: `{"status": "SUCCESS", "update_time": 1652272235}`, Names: "update_time"},
	})
}

func TestTolerantTimesAndAmounts(t *testing.T) {
	fx := harness(testSecretKey).Start(t)
	cases := []struct {
		body   string
		amount string
		at     time.Time
	}{
		{`{"status": "SUCCESS", "update_time": "2022-05-11T12:30:35.059"}`, "", time.Date(2022, 5, 11, 12, 30, 35, 59_000_000, time.UTC)},
		{`{"status": "SUCCESS", "update_time": "2022-05-11T14:30:35+02:00"}`, "", time.Date(2022, 5, 11, 12, 30, 35, 0, time.UTC)},
		{`{"status": "SUCCESS", "update_time": "2022-05-11T12:30:35"}`, "", time.Date(2022, 5, 11, 12, 30, 35, 0, time.UTC)},
		{`{"status": "SUCCESS", "update_time": null, "payment_detail": {"total_price": "8.99"}}`, "8.99", time.Time{}},
		{`{"status": "SUCCESS", "payment_detail": {"total_price": 1e-7}}`, "1e-7", time.Time{}},
	}
	for _, c := range cases {
		fx.Fault(t, "p1", fake.Fault{Times: 1, Body: []byte(c.body)})
		got, err := fx.Client.Check(context.Background(), "p1")
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if !got.UpdatedAt.Equal(c.at) || got.Amount != c.amount {
			t.Errorf("%s: UpdatedAt %s amount %q, want %s %q", c.body, got.UpdatedAt, got.Amount, c.at, c.amount)
		}
	}
}

func TestRefusalBodies(t *testing.T) {
	fx := harness(testSecretKey).Start(t)
	cases := []struct {
		status int
		body   string
		want   paybridge.Code
	}{
		{200, `{"result": false, "error": "Api RATE exceeded"}`, paybridge.CodeProviderRateLimited},
		{400, `{"result": false, "error": "Api RATE exceeded"}`, paybridge.CodeProviderRateLimited},
		{403, `{"result": false, "error": "rate limit"}`, paybridge.CodeProviderRateLimited},
		{200, `{"result": false, "error": "Payment not found"}`, paybridge.CodePaymentNotFound},
		{400, `{"result": false, "error": "Bad Request"}`, paybridge.CodeProviderBadResponse},
		{200, `{"result": false, "error": "Signature generated badly"}`, paybridge.CodeProviderBadResponse},
		{200, `{"result": false}`, paybridge.CodeProviderBadResponse},
		{401, `{"result": false, "error": "Unauthorized"}`, paybridge.CodeProviderAuthFailed},
		{403, `{"result": false, "error": "Forbidden"}`, paybridge.CodeProviderAuthFailed},
		{404, `{"result": false, "error": "Bad id"}`, paybridge.CodePaymentNotFound},
		{500, `{"result": false, "error": "Internal"}`, paybridge.CodeProviderUnavailable},
		{429, `{"result": false, "error": "Too many"}`, paybridge.CodeProviderRateLimited},
	}
	for i, c := range cases {
		id := "refused-" + string(rune('a'+i))
		fx.Fault(t, id, fake.Fault{Times: 10, Status: c.status, Body: []byte(c.body)})
		_, err := fx.Client.Check(context.Background(), id)
		if code := paybridge.ErrorCode(err); code != c.want {
			t.Errorf("HTTP %d %s: %v, want %s", c.status, c.body, err, c.want)
		}
	}
}

func TestSignatureHeader(t *testing.T) {
	// HMAC-SHA256 of the empty string keyed "key", computed independently
	// with openssl and Python.
	const vector = "5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0"
	m := hmac.New(sha256.New, []byte("key"))
	if got := hex.EncodeToString(m.Sum(nil)); got != vector {
		t.Fatalf("crypto/hmac gives %s", got)
	}
	if got := coinbar.Signature("key", nil); got != vector {
		t.Fatalf("Signature = %s, want %s", got, vector)
	}
	fx := harness("key").Start(t)
	fx.Add(t, "p1", fake.Step{Status: "PENDING"})
	if _, err := fx.Client.Check(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	h := fx.Engine.Requests()[0].Header
	if got := h.Values("Signature"); len(got) != 1 || got[0] != vector {
		t.Fatalf("SIGNATURE header %q, want exactly %s", got, vector)
	}
	if got := h.Get("Cbpay-Api-Key"); got != testClientID {
		t.Fatalf("CBPAY-API-KEY %q", got)
	}
	if got := h.Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type %q", got)
	}
}

func TestNoSignatureWithoutSecret(t *testing.T) {
	fx := harness("").Start(t)
	fx.Add(t, "p1", fake.Step{Status: "PENDING"})
	if _, err := fx.Client.Check(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if got, ok := fx.Engine.Requests()[0].Header["Signature"]; ok {
		t.Fatalf("SIGNATURE %q sent without a secret key", got)
	}
}

// TestNewValidatesTheClientID: the shared scenarios check base URLs and
// HTTP options; the client id is CoinbarPay's own.
func TestNewValidatesTheClientID(t *testing.T) {
	if _, err := coinbar.New("https://sandbox.coinbar.io", ""); err == nil {
		t.Error("empty client id accepted")
	}
	if _, err := coinbar.New("https://sandbox.coinbar.io", "id\r\nX-Evil: 1"); err == nil {
		t.Error("client id with CRLF accepted")
	}
	c, err := coinbar.New("https://sandbox.coinbar.io/", "id")
	if err != nil || c.Name() != "coinbar" {
		t.Fatalf("New: %v, name %q", err, c.Name())
	}
}

func TestFieldsAreCapped(t *testing.T) {
	providertest.CheckCaps(t, harness(testSecretKey), capsBody, map[string]providertest.Lands{
		"status":                            providertest.InProviderStatus,
		"status_descr":                      providertest.InProviderStatusDetail,
		"input_coin":                        providertest.InCurrency,
		"payment_detail.destination_coin":   providertest.InCryptoCurrency,
		"payment_detail.total_price":        providertest.InAmount,
		"payment_detail.destination_amount": providertest.InCryptoAmount,
		"update_time":                       providertest.InUpdatedAt,
		"payment_request_id_client":         providertest.AsPaymentID,
	})
}

// capsBody is a status body holding values by field name; a name under
// payment_detail goes into that object, and amounts are JSON numbers.
func capsBody(values map[string]string) []byte {
	body, detail := map[string]any{}, map[string]any{}
	for field, v := range values {
		switch field {
		case "payment_detail.total_price", "payment_detail.destination_amount":
			detail[strings.TrimPrefix(field, "payment_detail.")] = json.Number(v)
		case "payment_detail.destination_coin":
			detail["destination_coin"] = v
		default:
			body[field] = v
		}
	}
	body["payment_detail"] = detail
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return b
}
