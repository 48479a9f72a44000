package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Encode renders e as a NATS message on subject in the given content mode.
// It refuses an event that Decode would refuse, so every encoded event can be
// read back. It sets no Nats-Msg-Id: that is the publisher's business.
func Encode(subject string, e Event, mode Mode) (*nats.Msg, error) {
	if subject == "" {
		return nil, errors.New("encode event: empty NATS subject")
	}
	if mode != Binary && mode != Structured {
		return nil, fmt.Errorf("encode event %q: unknown mode %v", e.ID, mode)
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	data, err := marshalJSON(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: data: %w", e.ID, err)
	}
	ev, err := e.cloudEvent(data)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	msg := &nats.Msg{Subject: subject}
	if mode == Binary {
		msg.Header, err = binaryHeader(ev)
		msg.Data = data
	} else {
		msg.Header = nats.Header{"Content-Type": {ContentTypeCloudEvents}}
		msg.Data, err = writeStructured(ev)
	}
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return msg, nil
}

// check reports what makes e unfit to publish: the checks Decode applies.
func (e Event) check() error {
	switch {
	case e.ID == "":
		return errors.New("missing id")
	case e.Type != TypeStatusChanged && e.Type != TypeWatchExpired:
		return fmt.Errorf("unsupported type %q", e.Type)
	case e.Source == "":
		return errors.New("missing source")
	}
	if e.Subject != "" && e.Subject != e.Data.PaymentID {
		return fmt.Errorf("subject %q is not the data's payment_id %q", e.Subject, e.Data.PaymentID)
	}
	return checkData(&e.Data, e.Type)
}

// marshalJSON is json.Marshal without HTML escaping (payment ids such as
// "a>b" stay readable) and without the encoder's trailing newline.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
