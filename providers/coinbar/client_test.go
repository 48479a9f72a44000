package coinbar_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

func TestSeedBodyKeepsEveryDigit(t *testing.T) {
	fx := newFixture(t, "")
	const id = "XxYyWwZz-XxYy-XxYy-XxYy-XxYyWwZz"
	fx.fault(t, id, fake.Fault{Times: 1, Body: seedBody(t)})
	got, err := fx.client.Check(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := providers.Result{
		Status: providers.StatusExpired, ProviderStatus: "FAILED", ProviderStatusDetail: "Timeout",
		Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCurrency: "BTC",
		UpdatedAt: time.Date(2022, 5, 11, 12, 30, 35, 59_000_000, time.UTC),
	}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestFakeRendersExactDecimals(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	got, err := fx.client.Check(context.Background(), "p1")
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

func TestRetriesA503(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p1", fake.Step{Status: "SUCCESS"})
	fx.fault(t, "p1", fake.Fault{Times: 1, Status: 503})
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
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
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

func TestClientErrorsAreNotRetried(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p400", fake.Step{Status: "PENDING"})
	fx.fault(t, "p400", fake.Fault{Times: 5, Status: 400, Body: []byte(`{"result": false, "error": "Bad Request"}`)})
	_, err := fx.client.Check(context.Background(), "p400")
	wantCode(t, err, providers.CodeProviderBadResponse)
	if !strings.Contains(err.Error(), "Bad Request") {
		t.Errorf("error %q does not quote the provider's words", err)
	}
	if n := fx.fake.Calls("p400"); n != 1 {
		t.Errorf("400: fake saw %d calls, want 1", n)
	}

	_, err = fx.client.Check(context.Background(), "nobody")
	wantCode(t, err, providers.CodePaymentNotFound)
	if n := fx.fake.Calls("nobody"); n != 1 {
		t.Errorf("404: fake saw %d calls, want 1", n)
	}
}

func TestWrongCredentials(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	for name, opt := range map[string]coinbar.Option{
		"wrong secret": coinbar.WithSecretKey("not-the-secret"),
		"no secret":    coinbar.WithSecretKey(""),
	} {
		c, err := coinbar.New(fx.url, testClientID, opt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Check(context.Background(), "p1")
		wantCode(t, err, providers.CodeProviderAuthFailed)
		if name == "wrong secret" && strings.Contains(err.Error(), "not-the-secret") {
			t.Fatalf("error %q shows the secret", err)
		}
	}
	c, err := coinbar.New(fx.url, "someone-else", coinbar.WithSecretKey(testSecretKey))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Check(context.Background(), "p1")
	wantCode(t, err, providers.CodeProviderAuthFailed)
	if n := len(fx.fake.Requests()); n != 3 {
		t.Fatalf("fake got %d requests, want 3: a 401 is not retried", n)
	}
	if n := fx.fake.Calls("p1"); n != 0 {
		t.Fatalf("unauthorized requests reached the payment: %d", n)
	}
}

func TestUnreadableBodies(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	cases := map[string]fake.Fault{
		"truncated JSON":  {Times: 1, Body: fake.TruncatedJSON()},
		"over 1 MiB":      {Times: 1, Body: fake.OversizedJSON()},
		"HTML error page": {Times: 1, Body: fake.HTMLPage(200)},
		"HTML 400":        {Times: 1, Status: 400, Body: fake.HTMLPage(400)},
		"JSON array":      {Times: 1, Body: []byte(`[]`)},
	}
	for name, f := range cases {
		id := "bad-" + strings.ReplaceAll(name, " ", "-")
		fx.fault(t, id, f)
		_, err := fx.client.Check(context.Background(), id)
		if !strings.Contains(providers.ErrorMessage(err), "coinbar") {
			t.Errorf("%s: message %q does not name the provider", name, providers.ErrorMessage(err))
		}
		wantCode(t, err, providers.CodeProviderBadResponse)
	}
}

func TestBodiesThatLie(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	cases := map[string]struct{ body, field string }{
		"status a number":    {`{"status": 5}`, "status"},
		"no status":          {`{"status_descr": "Timeout"}`, "status"},
		"empty status":       {`{"status": ""}`, "status"},
		"amount a word":      {`{"status": "SUCCESS", "payment_detail": {"total_price": "abc"}}`, "payment_detail.total_price"},
		"amount an object":   {`{"status": "SUCCESS", "payment_detail": {"destination_amount": {}}}`, "payment_detail.destination_amount"},
		"coin a number":      {`{"status": "SUCCESS", "payment_detail": {"destination_coin": 1}}`, "payment_detail.destination_coin"},
		"detail a string":    {`{"status": "SUCCESS", "payment_detail": "none"}`, "payment_detail"},
		"bad update_time":    {`{"status": "SUCCESS", "update_time": "yesterday"}`, "update_time"},
		"another payment":    {`{"status": "SUCCESS", "payment_request_id_client": "someone-else"}`, "someone-else"},
		"descr a bool":       {`{"status": "FAILED", "status_descr": true}`, "status_descr"},
		"update_time number": {`{"status": "SUCCESS", "update_time": 1652272235}`, "update_time"},
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

func TestTolerantTimesAndAmounts(t *testing.T) {
	fx := newFixture(t, testSecretKey)
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
		fx.fault(t, "p1", fake.Fault{Times: 1, Body: []byte(c.body)})
		got, err := fx.client.Check(context.Background(), "p1")
		if err != nil {
			t.Fatalf("%s: %v", c.body, err)
		}
		if !got.UpdatedAt.Equal(c.at) || got.Amount != c.amount {
			t.Errorf("%s: UpdatedAt %s amount %q, want %s %q", c.body, got.UpdatedAt, got.Amount, c.at, c.amount)
		}
	}
}

func TestRefusalBodies(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	cases := []struct {
		status int
		body   string
		want   providers.Code
	}{
		{200, `{"result": false, "error": "Api RATE exceeded"}`, providers.CodeProviderRateLimited},
		{400, `{"result": false, "error": "Api RATE exceeded"}`, providers.CodeProviderRateLimited},
		{403, `{"result": false, "error": "rate limit"}`, providers.CodeProviderRateLimited},
		{200, `{"result": false, "error": "Payment not found"}`, providers.CodePaymentNotFound},
		{400, `{"result": false, "error": "Bad Request"}`, providers.CodeProviderBadResponse},
		{200, `{"result": false, "error": "Signature generated badly"}`, providers.CodeProviderBadResponse},
		{200, `{"result": false}`, providers.CodeProviderBadResponse},
		{401, `{"result": false, "error": "Unauthorized"}`, providers.CodeProviderAuthFailed},
		{403, `{"result": false, "error": "Forbidden"}`, providers.CodeProviderAuthFailed},
		{404, `{"result": false, "error": "Bad id"}`, providers.CodePaymentNotFound},
		{500, `{"result": false, "error": "Internal"}`, providers.CodeProviderUnavailable},
		{429, `{"result": false, "error": "Too many"}`, providers.CodeProviderRateLimited},
	}
	for i, c := range cases {
		id := "refused-" + string(rune('a'+i))
		fx.fault(t, id, fake.Fault{Times: 10, Status: c.status, Body: []byte(c.body)})
		_, err := fx.client.Check(context.Background(), id)
		if code := providers.ErrorCode(err); code != c.want {
			t.Errorf("HTTP %d %s: %v, want %s", c.status, c.body, err, c.want)
		}
	}
}

func TestPaymentIDsReachTheProviderByteForByte(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	ids := []string{"a/b?c%d#e f ü€", "semi;colon:plus+at@", "tab\there", "%2F", "..."}
	for _, id := range ids {
		fx.add(t, id, fake.Step{Status: "SUCCESS"})
		got, err := fx.client.Check(context.Background(), id)
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		if got.Status != providers.StatusPaid {
			t.Fatalf("%q: status %s", id, got.Status)
		}
		reqs := fx.fake.Requests()
		last := reqs[len(reqs)-1]
		wantURI := coinbar.PathPrefix + url.PathEscape(id) + "/status"
		if last.ID != id || last.RequestURI != wantURI {
			t.Fatalf("fake got id %q at %q, want %q at %q", last.ID, last.RequestURI, id, wantURI)
		}
	}
}

func TestDotSegmentsAreRefused(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	for _, id := range []string{".", "..", ""} {
		_, err := fx.client.Check(context.Background(), id)
		wantCode(t, err, providers.CodeInvalidRequest)
	}
	if n := len(fx.fake.Requests()); n != 0 {
		t.Fatalf("%d requests were sent for ids that were refused", n)
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
	fx := newFixture(t, "key")
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	if _, err := fx.client.Check(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	h := fx.fake.Requests()[0].Header
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
	fx := newFixture(t, "")
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	if _, err := fx.client.Check(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if got, ok := fx.fake.Requests()[0].Header["Signature"]; ok {
		t.Fatalf("SIGNATURE %q sent without a secret key", got)
	}
}

func TestLogsAndErrorsHoldNoCredentials(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fx := newFixture(t, testSecretKey, providers.WithLogger(logger))
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	fx.fault(t, "p1", fake.Fault{Times: 10, Status: 503})
	_, err := fx.client.Check(context.Background(), "p1")
	wantCode(t, err, providers.CodeProviderUnavailable)
	if n := fx.fake.Calls("p1"); n != 4 {
		t.Fatalf("fake saw %d calls, want 4 (3 retries)", n)
	}
	logs := buf.String()
	if !strings.Contains(logs, "retrying") || !strings.Contains(logs, "p1") {
		t.Fatalf("the failing call was not logged:\n%s", logs)
	}
	for _, secret := range []string{testClientID, testSecretKey, coinbar.Signature(testSecretKey, nil)} {
		if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
			t.Fatalf("credential %q leaked:\nerror: %v\nlogs:\n%s", secret, err, logs)
		}
	}
}

func TestDeadlineIsATimeout(t *testing.T) {
	fx := newFixture(t, testSecretKey)
	fx.add(t, "p1", fake.Step{Status: "PENDING"})
	fx.fault(t, "p1", fake.Fault{Times: 1, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := fx.client.Check(ctx, "p1")
	wantCode(t, err, providers.CodeProviderTimeout)
}

func TestNewValidates(t *testing.T) {
	bad := map[string]string{
		"no scheme":   "sandbox.coinbar.io",
		"ftp":         "ftp://sandbox.coinbar.io",
		"no host":     "https://",
		"query":       "https://sandbox.coinbar.io?x=1",
		"credentials": "https://user:hunter2@sandbox.coinbar.io",
		"not a URL":   "https://bad host\x7f",
	}
	for name, base := range bad {
		_, err := coinbar.New(base, testClientID)
		if err == nil {
			t.Errorf("%s: %q accepted", name, base)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: error %q shows a credential", name, err)
		}
	}
	if _, err := coinbar.New("https://sandbox.coinbar.io", ""); err == nil {
		t.Error("empty client id accepted")
	}
	if _, err := coinbar.New("https://sandbox.coinbar.io", "id\r\nX-Evil: 1"); err == nil {
		t.Error("client id with CRLF accepted")
	}
	if _, err := coinbar.New("https://sandbox.coinbar.io", "id", coinbar.WithHTTPOptions(providers.WithRetries(-1))); err == nil {
		t.Error("bad HTTP option accepted")
	}
	c, err := coinbar.New("https://sandbox.coinbar.io/", "id")
	if err != nil || c.Name() != "coinbar" {
		t.Fatalf("New: %v, name %q", err, c.Name())
	}
}

// seedBody is the 200 example of CoinbarPay's status page, verbatim
// (testdata/seed-status.json).
func seedBody(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/seed-status.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
