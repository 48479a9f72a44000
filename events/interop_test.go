package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	cejs "github.com/cloudevents/sdk-go/protocol/nats_jetstream/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/binding/format"
	ce "github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/events"
)

// sdkEvent is e built with sdk-go, as another producer would.
func sdkEvent(t *testing.T, e events.Event) ce.Event {
	t.Helper()
	s := ce.New()
	s.SetID(e.ID)
	s.SetType(e.Type)
	s.SetSource(e.Source)
	s.SetSubject(e.Subject)
	s.SetTime(e.Time)
	s.SetDataSchema(e.DataSchema)
	s.SetExtension("provider", e.Data.Provider)
	s.SetExtension("paymentstatus", string(e.Data.Status))
	if p := e.Data.PreviousStatus; p != nil {
		s.SetExtension("previousstatus", string(*p))
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetData(ce.ApplicationJSON, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// sdk-go's NATS JetStream binding writes binary mode without percent
// encoding; Decode reads it, raw UTF-8 included.
func TestDecodeSDKBinary(t *testing.T) {
	d := fullData()
	d.PaymentID = "pay ü€ / a.b.*>"
	e := events.NewStatusChanged("ev-sdk", d)
	s := sdkEvent(t, e)
	var body bytes.Buffer
	header, err := cejs.WriteMsg(context.Background(), binding.ToMessage(&s), &body)
	if err != nil {
		t.Fatal(err)
	}
	if header.Get("ce-subject") != d.PaymentID {
		t.Fatalf("sdk-go percent-encoded after all: ce-subject %q", header.Get("ce-subject"))
	}
	got, err := events.Decode(header, body.Bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("got %+v\nwant %+v", got, e)
	}

	// sdk-go's reader takes the content type from an unprefixed
	// content-type header; a producer following that reader sends it so.
	delete(header, "ce-datacontenttype")
	header.Set("content-type", "application/json")
	if got, err = events.Decode(header, body.Bytes()); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("with unprefixed content-type: %+v, %v", got, err)
	}
}

// sdk-go's structured (JSON format) writer's output is read by Decode.
func TestDecodeSDKStructured(t *testing.T) {
	e := events.NewWatchExpired("ev-sdk", fullData())
	s := sdkEvent(t, e)
	body, err := format.JSON.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := events.Decode(nats.Header{"Content-Type": {format.JSON.MediaType()}}, body)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("got %+v\nwant %+v", got, e)
	}
}

// sdk-go's NATS writer sends the structured mode with no header at all;
// Decode reads such a message as the JSON event format.
func TestDecodeSDKStructuredWithoutHeader(t *testing.T) {
	e := events.NewStatusChanged("ev-sdk", fullData())
	s := sdkEvent(t, e)
	var body bytes.Buffer
	header, err := cejs.WriteMsg(binding.WithForceStructured(context.Background()), binding.ToMessage(&s), &body)
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 0 {
		t.Fatalf("sdk-go wrote headers in structured mode after all: %v", header)
	}
	got, err := events.Decode(header, body.Bytes())
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("got %+v\nwant %+v", got, e)
	}
}

// Our structured body is the JSON event format as sdk-go reads it, data and
// its amounts intact.
func TestSDKReadsStructured(t *testing.T) {
	d := fullData()
	d.PaymentID = oddPaymentID
	e := events.NewStatusChanged("ev-1", d)
	m := mustEncode(t, e, events.Structured)
	var s ce.Event
	if err := format.JSON.Unmarshal(m.Data, &s); err != nil {
		t.Fatalf("sdk-go format reader: %v", err)
	}
	assertSDKEvent(t, s, e)
}

// Our binary message is read by sdk-go's NATS JetStream binding too (its
// values are taken verbatim, so this holds for ASCII values).
func TestSDKReadsBinary(t *testing.T) {
	e := events.NewStatusChanged("ev-1", fullData())
	m := mustEncode(t, e, events.Binary)
	s, err := binding.ToEvent(context.Background(), cejs.NewMessage(m))
	if err != nil {
		t.Fatalf("sdk-go binding reader: %v", err)
	}
	assertSDKEvent(t, *s, e)
}

func assertSDKEvent(t *testing.T, s ce.Event, e events.Event) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Errorf("sdk-go says invalid: %v", err)
	}
	previous := ""
	if e.Data.PreviousStatus != nil {
		previous = string(*e.Data.PreviousStatus)
	}
	got := []any{s.SpecVersion(), s.ID(), s.Type(), s.Source(), s.Subject(), s.Time().UTC(), s.DataSchema(), s.DataContentType(),
		s.Extensions()["provider"], s.Extensions()["paymentstatus"], s.Extensions()["previousstatus"]}
	want := []any{"1.0", e.ID, e.Type, e.Source, e.Subject, e.Time, e.DataSchema, "application/json",
		e.Data.Provider, string(e.Data.Status), previous}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sdk-go read attributes\n%v\nwant\n%v", got, want)
	}
	var d events.StatusChanged
	if err := s.DataAs(&d); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, e.Data) {
		t.Errorf("sdk-go read data %+v\nwant %+v", d, e.Data)
	}
	if !bytes.Contains(s.Data(), []byte(`"crypto_amount":"0.00045145423250897323"`)) {
		t.Errorf("sdk-go's data lost the amount's digits: %s", s.Data())
	}
}
