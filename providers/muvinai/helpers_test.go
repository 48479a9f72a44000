package muvinai_test

import (
	"errors"
	"testing"
	"time"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

const testAPIKey = "sf_api_key_5c81f0d2"

type fixture struct {
	fake   *muvinai.Fake
	client *muvinai.Client
	url    string
}

// newFixture starts a fake over real HTTP and a client of it with short
// backoffs; extra HTTP options come after the defaults.
func newFixture(t *testing.T, opts ...providers.HTTPOption) fixture {
	t.Helper()
	f, err := muvinai.NewFake(testAPIKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := f.NewServer()
	t.Cleanup(srv.Close)
	httpOpts := append([]providers.HTTPOption{providers.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := muvinai.New(srv.URL, testAPIKey, muvinai.WithHTTPOptions(httpOpts...))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{fake: f, client: c, url: srv.URL}
}

func (fx fixture) add(t *testing.T, id string, steps ...fake.Step) {
	t.Helper()
	if err := fx.fake.Add(fake.Payment{ID: id, Amount: "19913.425", Currency: "ARS", Steps: steps}); err != nil {
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
