package events_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/events"
)

// connect starts an embedded NATS server with JetStream and connects to it.
func connect(t *testing.T) *nats.Conn {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Encoded events cross a real NATS server and a JetStream stream in both
// modes, odd payment ids included, and decode to what was sent.
func TestOverNATS(t *testing.T) {
	nc := connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       "PAYMENT_EVENTS",
		Subjects:   []string{"payments.status.changed", "payments.watch.expired"},
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	core, err := nc.SubscribeSync("payments.>")
	if err != nil {
		t.Fatal(err)
	}

	odd := fullData()
	odd.PaymentID = oddPaymentID
	sent := []events.Event{
		events.NewStatusChanged("ev-1", odd),
		events.NewStatusChanged("ev-2", firstSight()),
		events.NewWatchExpired("ev-3", fullData()),
	}
	var modes []events.Mode
	for i, e := range sent {
		mode := events.Mode(i % 2)
		modes = append(modes, mode)
		subject := "payments.status.changed"
		if e.Type == events.TypeWatchExpired {
			subject = "payments.watch.expired"
		}
		m, err := events.Encode(subject, e, mode)
		if err != nil {
			t.Fatal(err)
		}
		m.Header.Set(jetstream.MsgIDHeader, e.ID)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("publish %s: %v", e.ID, err)
		}
	}

	for i, want := range sent {
		m, err := core.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := events.DecodeMsg(m)
		if err != nil {
			t.Fatalf("core message %d (%v): %v", i, modes[i], err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("core message %d (%v):\n got %+v\nwant %+v", i, modes[i], got, want)
		}
	}

	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(len(sent), jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for m := range batch.Messages() {
		got, err := events.DecodeJetStream(m)
		if err != nil {
			t.Fatalf("stream message %d (%v): %v", i, modes[i], err)
		}
		if !reflect.DeepEqual(got, sent[i]) {
			t.Errorf("stream message %d (%v):\n got %+v\nwant %+v", i, modes[i], got, sent[i])
		}
		i++
	}
	if batch.Error() != nil || i != len(sent) {
		t.Fatalf("fetched %d of %d events: %v", i, len(sent), batch.Error())
	}
}
