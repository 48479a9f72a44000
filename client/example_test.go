package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/events"
	"github.com/paybridge/paybridge/natsembed"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

func Example() {
	nc, stop := runningPaybridge() // your service's connection; here NATS, a bridge and provider fakes in this process
	defer stop()

	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()
	rep, err := c.Check(ctx, "coinbar", "order-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Provider, rep.PaymentID, rep.Status, rep.Amount, rep.Currency)
	// Output: coinbar order-1 pending 8.99 EUR
}

// Options follow a bridge whose bridge.Config names its assets otherwise;
// a name that cannot be one is refused at once.
func ExampleNew() {
	nc, stop := runningPaybridge()
	defer stop()

	_, err := client.New(nc, client.WithCheckSubject("shop.payments.check"), client.WithEventStream("SHOP_PAYMENT_EVENTS"))
	fmt.Println(err)
	_, err = client.New(nc, client.WithCheckSubject("payments.*"))
	fmt.Println(err)
	// Output:
	// <nil>
	// check subject "payments.*": must not contain wildcards
}

// A check that also asks the bridge to watch the payment until it settles.
func ExampleClient_Check() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()
	rep, err := c.Check(ctx, "coinbar", "order-1", client.Watch(), client.RequestID("req-1"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (first sight: %t) watching=%t request=%s\n", rep.Status, rep.PreviousStatus == nil, rep.Watching, rep.RequestID)
	// Amounts are decimal strings with the provider's exact digits.
	fmt.Println(rep.Amount, rep.Currency, rep.CryptoAmount, rep.CryptoCurrency)

	// Within a minute, the stored status will do: no provider call.
	rep, err = c.Check(ctx, "coinbar", "order-1", client.MaxAge(time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Status, rep.Source)
	// Output:
	// pending (first sight: true) watching=true request=req-1
	// 8.99 EUR 0.00045145423250897323 BTC
	// pending store
}

// Error replies are values: match a code with errors.Is, read the code and
// message with errors.As.
func ExampleClient_Check_errors() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()

	_, err = c.Check(ctx, "coinbar", "no-such-order")
	switch {
	case errors.Is(err, client.ErrPaymentNotFound):
		fmt.Println("no such payment")
	case errors.Is(err, client.ErrNoBridge):
		fmt.Println("no bridge on this NATS")
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("no answer in time")
	}
	var pe *paybridge.Error
	if errors.As(err, &pe) {
		fmt.Println(pe.Code, "retryable:", pe.Code.Retryable())
	}
	var re *client.ReplyError
	if errors.As(err, &re) {
		fmt.Println("about", re.Provider, re.PaymentID)
	}

	// Arguments the bridge would refuse are refused before sending.
	_, err = c.Check(ctx, "", "order-1")
	fmt.Println(errors.Is(err, client.ErrInvalidRequest), err)
	// Output:
	// no such payment
	// payment_not_found retryable: false
	// about coinbar no-such-order
	// true request not sent: invalid_request: provider: must be 1 to 64 bytes, got 0
}

// A batch job queues a check of each open payment: the stream keeps them
// until a bridge has done them, at its own pace, even one that is down
// now. Each change is an event, as for any check; the job waits for none.
func ExampleClient_Enqueue() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"order-1", "order-2"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		stored, err := c.Enqueue(ctx, "coinbar", id, client.Watch())
		cancel()
		switch {
		case errors.Is(err, client.ErrOverloaded):
			log.Fatal("the stream is full: slow down, and queue the rest later: ", err)
		case err != nil:
			log.Fatal(err)
		}
		fmt.Println(id, "queued in", stored.Stream, "at sequence", stored.Sequence)
	}
	// Output:
	// order-1 queued in PAYMENT_CHECKS at sequence 1
	// order-2 queued in PAYMENT_CHECKS at sequence 2
}

// Status reads what the bridge has stored, never calling the provider.
func ExampleClient_Status() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()

	_, err = c.Status(ctx, "coinbar", "order-2")
	fmt.Println(errors.Is(err, client.ErrPaymentNotFound)) // never checked: nothing stored
	if _, err := c.Check(ctx, "coinbar", "order-2"); err != nil {
		log.Fatal(err)
	}
	rep, err := c.Status(ctx, "coinbar", "order-2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Status, rep.Terminal, rep.Source, rep.ProviderStatus)
	// Output:
	// true
	// paid true store SUCCESS
}

// A service consuming status changes: one durable name per service, an
// idempotent handler, nil to acknowledge.
func ExampleClient_Subscribe() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	applied := make(chan string, 1)
	sub, err := c.Subscribe(ctx, "billing", func(ctx context.Context, ev events.Event) error {
		// Apply the change once per ev.ID; an error here brings the event
		// back later, Permanent(err) drops it.
		d := ev.Data
		applied <- fmt.Sprintf("%s %s is %s: %s of %s %s", d.Provider, d.PaymentID, d.Status, d.AmountPaid, d.Amount, d.Currency)
		return nil
	}, client.OnError(func(err error) { log.Print(err) }))
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Stop()

	checkCtx, cancel := context.WithTimeout(ctx, client.CheckTimeout)
	defer cancel()
	if _, err := c.Check(checkCtx, "muvinai", "pr-1"); err != nil { // a first sight: one event
		log.Fatal(err)
	}
	fmt.Println(<-applied)
	// Output: muvinai pr-1 is paid: 15000.50 of 15000.50 ARS
}

// A handler that can never apply an event says so with Permanent: the
// event is terminated instead of coming back.
func ExamplePermanent() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	refused := make(chan error, 1)
	sub, err := c.Subscribe(ctx, "ledger", func(ctx context.Context, ev events.Event) error {
		if ev.Data.Currency != "EUR" {
			err := client.Permanent(fmt.Errorf("%s %s: currency %s is not booked here", ev.Data.Provider, ev.Data.PaymentID, ev.Data.Currency))
			refused <- err
			return err
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Stop()

	checkCtx, cancel := context.WithTimeout(ctx, client.CheckTimeout)
	defer cancel()
	if _, err := c.Check(checkCtx, "muvinai", "pr-1"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-refused)
	// Output: permanent: muvinai pr-1: currency ARS is not booked here
}

// Follow shows events as they are stored, here from the first one, with
// nothing to acknowledge.
func ExampleClient_Follow() {
	nc, stop := runningPaybridge()
	defer stop()
	c, err := client.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), client.CheckTimeout)
	defer cancel()
	for _, p := range [][2]string{{"coinbar", "order-1"}, {"coinbar", "order-2"}} {
		if _, err := c.Check(ctx, p[0], p[1]); err != nil {
			log.Fatal(err)
		}
	}

	lines := make(chan string, 2)
	sub, err := c.Follow(ctx, client.FollowConfig{FromFirst: true}, func(ctx context.Context, ev events.Event) {
		lines <- fmt.Sprintf("%s %s → %s", ev.Data.Provider, ev.Data.PaymentID, ev.Data.Status)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Stop()
	fmt.Println(<-lines)
	fmt.Println(<-lines)
	// Output:
	// coinbar order-1 → pending
	// coinbar order-2 → paid
}

// runningPaybridge stands in for what a service finds running: a NATS
// server with JetStream, a paybridge bridge on it with the default
// configuration, and both providers' fakes (over real HTTP) knowing a few
// payments. It returns a connection and a function that stops it all.
func runningPaybridge() (*nats.Conn, func()) {
	w, err := startWorld()
	if err == nil {
		err = w.startBridge(bridge.Config{})
	}
	if err == nil {
		err = w.addExamplePayments()
	}
	if err != nil {
		w.close()
		log.Fatal(err)
	}
	return w.nc, w.close
}

// world is an embedded NATS server with JetStream, both provider fakes
// served over HTTP, and a connection for the client: the parts of a
// paybridge deployment, each real. The bridge is started apart, so a test
// can run without one or choose its configuration.
type world struct {
	srv     *server.Server
	url     string
	nc      *nats.Conn
	coinbar *coinbar.Fake
	muvinai *muvinai.Fake
	cbURL   string
	mvURL   string
	closers []func() // run last first
}

// Credentials the fakes accept.
const (
	coinbarClientID = "cb-client-id"
	coinbarSecret   = "cb-secret-key"
	muvinaiKey      = "sf-api-key"
)

func startWorld() (*world, error) {
	w := &world{}
	dir, err := os.MkdirTemp("", "paybridge-client-")
	if err != nil {
		return w, err
	}
	w.onClose(func() { os.RemoveAll(dir) })
	if w.srv, err = natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: dir}); err != nil {
		return w, err
	}
	w.onClose(func() { w.srv.Shutdown(); w.srv.WaitForShutdown() })
	w.url = w.srv.ClientURL()

	if w.coinbar, err = coinbar.NewFake(coinbarClientID, coinbarSecret); err != nil {
		return w, err
	}
	cb := httptest.NewServer(w.coinbar)
	w.onClose(cb.Close)
	w.cbURL = cb.URL
	if w.muvinai, err = muvinai.NewFake(muvinaiKey); err != nil {
		return w, err
	}
	mv := httptest.NewServer(w.muvinai)
	w.onClose(mv.Close)
	w.mvURL = mv.URL

	w.nc, err = w.connect()
	return w, err
}

func (w *world) connect() (*nats.Conn, error) {
	nc, err := nats.Connect(w.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		return nil, err
	}
	w.onClose(nc.Close)
	return nc, nil
}

// providers returns clients of both fakes with quick retries.
func (w *world) providers() ([]paybridge.Provider, error) {
	quick := providers.WithBackoff(time.Millisecond, 5*time.Millisecond)
	cb, err := coinbar.New(w.cbURL, coinbarClientID, coinbar.WithSecretKey(coinbarSecret), coinbar.WithHTTPOptions(quick))
	if err != nil {
		return nil, err
	}
	mv, err := muvinai.New(w.mvURL, muvinaiKey, muvinai.WithHTTPOptions(quick))
	if err != nil {
		return nil, err
	}
	return []paybridge.Provider{cb, mv}, nil
}

// startBridge runs a bridge on a connection of its own, asking provs, or
// both fakes when there are none.
func (w *world) startBridge(cfg bridge.Config, provs ...paybridge.Provider) error {
	if provs == nil {
		var err error
		if provs, err = w.providers(); err != nil {
			return err
		}
	}
	nc, err := w.connect()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bridge.New(ctx, nc, cfg, provs...)
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	w.onClose(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Close(ctx)
	})
	return nil
}

// addExamplePayments gives the fakes the payments the examples check.
func (w *world) addExamplePayments() error {
	return errors.Join(
		w.coinbar.Add(fake.Payment{ID: "order-1", Amount: "8.99", Currency: "EUR",
			CryptoAmount: "0.00045145423250897323", CryptoCoin: "BTC", Steps: []fake.Step{{Status: "PENDING"}}}),
		w.coinbar.Add(fake.Payment{ID: "order-2", Amount: "1.50", Currency: "EUR", Steps: []fake.Step{{Status: "SUCCESS"}}}),
		w.muvinai.Add(fake.Payment{ID: "pr-1", Amount: "15000.50", Currency: "ARS",
			Steps: []fake.Step{{Status: "approved", Detail: "correct", AmountPaid: "15000.50"}}}),
	)
}

func (w *world) onClose(f func()) { w.closers = append(w.closers, f) }

// close stops everything started, last first; safe to call twice.
func (w *world) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
	w.closers = nil
}
