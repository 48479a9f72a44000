package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/bridge"
)

// op is one measured "check": it returns the error code ("" for success)
// and whether the reply said the status changed.
type op func(ctx context.Context, p *payment) outcome

type outcome struct {
	code    string
	changed bool
}

// Codes of failures that never reached the bridge's reply.
const (
	codeTimeout      = "timeout"
	codeNoResponders = "no_responders"
	codeNATS         = "nats_error"
	codeKV           = "kv_error"
)

// bridgeCheck is a check through the bridge: a NATS request and its reply.
// Only what the report needs is read from the reply: the error code, or
// whether it changed the status.
func bridgeCheck(nc *nats.Conn, subject string) op {
	changed := []byte(`"changed":true`)
	return func(ctx context.Context, p *payment) outcome {
		msg, err := nc.RequestWithContext(ctx, subject, p.body)
		switch {
		case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
			return outcome{code: codeTimeout}
		case errors.Is(err, nats.ErrNoResponders):
			return outcome{code: codeNoResponders}
		case err != nil:
			return outcome{code: codeNATS}
		}
		if h := msg.Header.Get(micro.ErrorCodeHeader); h != "" {
			var e paybridge.ErrorReply
			if json.Unmarshal(msg.Data, &e) != nil || e.Error.Code == "" {
				return outcome{code: "header_" + h}
			}
			return outcome{code: string(e.Error.Code)}
		}
		return outcome{changed: bytes.Contains(msg.Data, changed)}
	}
}

// floorCheck is what a check cannot avoid: the provider's answer (the real
// client: HTTP GET, retries policy, JSON decode and mapping) and one read
// of the stored status. No NATS request, no bridge.
func floorCheck(clients map[string]paybridge.Provider, kv jetstream.KeyValue) op {
	return func(ctx context.Context, p *payment) outcome {
		if _, err := clients[p.provider].Check(ctx, p.id); err != nil {
			return outcome{code: string(paybridge.ErrorCode(err))}
		}
		_, err := kv.Get(ctx, bridge.Key(p.provider, p.id))
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return outcome{code: codeKV}
		}
		return outcome{}
	}
}
