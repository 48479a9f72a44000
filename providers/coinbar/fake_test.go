package coinbar_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

func TestFakeRendersTheDocumentedShape(t *testing.T) {
	fx := harness("key").Start(t)
	fx.Add(t, "p1", fake.Step{Status: "FAILED", Detail: "Timeout"})
	raw, status := get(t, fx.URL+coinbar.PathPrefix+"p1/status", map[string]string{
		"CBPAY-API-KEY": testClientID, "SIGNATURE": coinbar.Signature("key", nil),
	})
	if status != http.StatusOK {
		t.Fatalf("HTTP %d: %s", status, raw)
	}
	for _, want := range []string{`"destination_amount":0.00045145423250897323`, `"total_price":8.99`, `"coin_change":19913.425`, `"trade_pair":"BTC/EUR"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("body lacks %s: %s", want, raw)
		}
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"payment_id_coinbar", "payment_request_id_client", "service_client_id", "status",
		"payment_detail", "input_coin", "creation_time", "update_time", "status_descr"} {
		if _, ok := body[k]; !ok {
			t.Errorf("field %s missing from %s", k, raw)
		}
	}
}

func TestFakeErrorShapes(t *testing.T) {
	fx := harness("key").Start(t)
	cases := []struct {
		name   string
		header map[string]string
		path   string
		status int
		body   string
	}{
		{"no key", nil, "p1/status", 401, `{"result":false,"error":"Unauthorized"}`},
		{"bad signature", map[string]string{"CBPAY-API-KEY": testClientID, "SIGNATURE": "00"}, "p1/status", 401, `{"result":false,"error":"Unauthorized"}`},
		{"unknown id", map[string]string{"CBPAY-API-KEY": testClientID, "SIGNATURE": coinbar.Signature("key", nil)}, "nope/status", 404, `{"result":false,"error":"Payment not found"}`},
	}
	for _, c := range cases {
		raw, status := get(t, fx.URL+coinbar.PathPrefix+c.path, c.header)
		if status != c.status || string(raw) != c.body {
			t.Errorf("%s: HTTP %d %s, want %d %s", c.name, status, raw, c.status, c.body)
		}
	}
}

func get(t *testing.T, url string, header map[string]string) ([]byte, int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return raw, resp.StatusCode
}
