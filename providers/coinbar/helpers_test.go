package coinbar_test

import (
	"errors"
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
)

const (
	testClientID  = "cb-client-3f9a1c2e"
	testSecretKey = "cb-secret-77d2e0b4"
)

type fixture struct {
	fake   *coinbar.Fake
	client *coinbar.Client
	url    string
}

// newFixture starts a fake over real HTTP and a client of it with short
// backoffs; extra HTTP options come after the defaults.
func newFixture(t *testing.T, secretKey string, opts ...providers.HTTPOption) fixture {
	t.Helper()
	f, err := coinbar.NewFake(testClientID, secretKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := f.NewServer()
	t.Cleanup(srv.Close)
	httpOpts := append([]providers.HTTPOption{providers.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := coinbar.New(srv.URL, testClientID, coinbar.WithSecretKey(secretKey), coinbar.WithHTTPOptions(httpOpts...))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{fake: f, client: c, url: srv.URL}
}

func (fx fixture) add(t *testing.T, id string, steps ...fake.Step) {
	t.Helper()
	err := fx.fake.Add(fake.Payment{
		ID: id, Amount: "8.99", Currency: "EUR",
		CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC",
		Steps: steps,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (fx fixture) fault(t *testing.T, id string, f fake.Fault) {
	t.Helper()
	if err := fx.fake.Fault(id, f); err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code providers.Code) {
	t.Helper()
	if !errors.Is(err, &providers.Error{Code: code}) {
		t.Fatalf("error %v, want code %s", err, code)
	}
}
