package bridge

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/paybridge/paybridge"
)

// lookupRequest is a fire-and-forget payments.status.get request.
type lookupRequest struct {
	micro.Request
	data []byte
}

func (r lookupRequest) Data() []byte           { return r.data }
func (r lookupRequest) Headers() micro.Headers { return nil }
func (r lookupRequest) Reply() string          { return "" }

// Lookups dropped while every lookup slot is busy are counted under the
// provider only when it is configured: made-up names mint no series.
func TestDroppedLookupsMintNoLabels(t *testing.T) {
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := &service{lookups: newPool(1, 0), metrics: m, log: slog.New(slog.DiscardHandler),
		checker: &checker{providers: map[string]paybridge.Provider{"coinbar": nil}}}
	s.lookups.slots <- struct{}{} // the only slot is busy
	for i := range 100 {
		s.handleStatus(lookupRequest{data: fmt.Appendf(nil, `{"provider":"made-up-%d","payment_id":"p"}`, i)})
	}
	s.handleStatus(lookupRequest{data: []byte(`{"provider":"coinbar","payment_id":"p"}`)})
	if n := testutil.CollectAndCount(m.dropped); n != 2 {
		t.Fatalf("%d series in paybridge_checks_dropped_total, want 2 (coinbar and the unconfigured)", n)
	}
	if got := testutil.ToFloat64(m.dropped.WithLabelValues("")); got != 100 {
		t.Fatalf("%v drops under the empty provider, want 100", got)
	}
}
