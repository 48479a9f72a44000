package events

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DecodeMsg decodes a core NATS message; see Decode.
func DecodeMsg(m *nats.Msg) (Event, error) {
	if m == nil {
		return Event{}, invalid("nil message")
	}
	return Decode(m.Header, m.Data)
}

// DecodeJetStream decodes a message from a JetStream consumer; see Decode.
func DecodeJetStream(m jetstream.Msg) (Event, error) {
	if m == nil {
		return Event{}, invalid("nil message")
	}
	return Decode(m.Headers(), m.Data())
}

// Decode reads an event in either content mode, as ReadEnvelope tells them
// apart. A message that is not a CloudEvent by its headers is read as the
// JSON event format: sdk-go's NATS writer sends the structured mode with no
// header at all.
//
// Every error is an *InvalidEventError (wrapping ErrInvalidEvent) naming the
// problem. Decode never panics, whatever the input.
func Decode(header nats.Header, data []byte) (Event, error) {
	env, err := ReadEnvelope(header, data)
	if err != nil {
		return Event{}, err
	}
	if env.Event == nil {
		if len(data) == 0 {
			return Event{}, invalid("empty message: no ce- headers and no body")
		}
		ev, err := readStructured(data)
		if err != nil {
			return Event{}, err
		}
		env = Envelope{Event: ev, Mode: Structured}
	}
	return eventOf(env.Event, env.Mode)
}
