package providertest

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Fixture is a fresh fake served over real HTTP and a client of it.
type Fixture struct {
	Engine *fake.Engine
	Client paybridge.Provider
	URL    string

	payment fake.Payment
	// httpOpts are the client's HTTP options, for other clients of the
	// same fake.
	httpOpts []providers.HTTPOption
}

// Start serves a fresh fake and builds a client of it with short backoffs;
// opts come after the defaults, so they win. The server closes when the
// test ends.
func (h Harness) Start(t *testing.T, opts ...providers.HTTPOption) *Fixture {
	t.Helper()
	e, err := h.NewFake()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	httpOpts := append([]providers.HTTPOption{providers.WithBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	c, err := h.NewClient(srv.URL, httpOpts...)
	if err != nil {
		t.Fatal(err)
	}
	return &Fixture{Engine: e, Client: c, URL: srv.URL, payment: h.Payment, httpOpts: httpOpts}
}

// Add adds a payment with the harness's fixed fields and the given script.
func (fx *Fixture) Add(t *testing.T, id string, steps ...fake.Step) {
	t.Helper()
	p := fx.payment
	p.ID, p.Steps = id, steps
	if err := fx.Engine.Add(p); err != nil {
		t.Fatal(err)
	}
}

// Fault queues a fault for the next requests naming id.
func (fx *Fixture) Fault(t *testing.T, id string, f fake.Fault) {
	t.Helper()
	if err := fx.Engine.Fault(id, f); err != nil {
		t.Fatal(err)
	}
}

// WantCode fails the test now unless err carries code.
func WantCode(t testing.TB, err error, code paybridge.Code) {
	t.Helper()
	if !errors.Is(err, &paybridge.Error{Code: code}) {
		t.Fatalf("error %v, want code %s", err, code)
	}
}
