package main

import (
	"context"
	"io"
	"time"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/internal/cli"
)

// runCheck is `paybridge check`: one request on payments.check.
func (m *Main) runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, req, err := parseCheck(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	return m.request(ctx, r, client.WithCheckSubject, stdout, stderr,
		func(ctx context.Context, c *client.Client, replyJSON client.RequestOption) (paybridge.Reply, error) {
			return c.Check(ctx, req.Provider, req.PaymentID, append(req.options(), replyJSON)...)
		})
}

// parseCheck reads and checks check's command line; --help prints the
// usage to stdout.
func parseCheck(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (requestFlags, checkRequest, error) {
	var r requestFlags
	var req checkRequest
	f := newFlagSet("check", "check [flags] <provider> <payment-id>")
	f.fromEnvOnly = natsFlagNames
	r.register(f, client.DefaultCheckSubject, client.CheckTimeout)
	f.BoolVar(&req.Watch, "watch", false, "keep re-checking the payment until its status is terminal")
	f.StringVar(&req.MaxAge, "max-age", "", "answer from the stored status when it was checked at most this long ago, e.g. 5m")
	f.StringVar(&req.RequestID, "request-id", "", "id echoed in the reply and the bridge's logs")
	pos, err := f.parseOrHelp(args, lookupEnv, stdout)
	if err != nil {
		return r, req, err
	}
	if len(pos) != 2 {
		return r, req, cli.Usagef("check wants <provider> <payment-id> (see paybridge check --help)")
	}
	req.Provider, req.PaymentID = pos[0], pos[1]
	if err := r.validate(f); err != nil {
		return r, req, err
	}
	if d, err := time.ParseDuration(req.MaxAge); req.MaxAge != "" && (err != nil || d < 0) {
		return r, req, f.bad("max-age", "want a duration such as 5m")
	}
	return r, req, nil
}

// checkRequest is what check was asked to send; as JSON, the body of a
// check request (docs/contract.md, "Check request"), which demo sends.
type checkRequest struct {
	Provider  string `json:"provider"`
	PaymentID string `json:"payment_id"`
	MaxAge    string `json:"max_age,omitempty"`
	Watch     bool   `json:"watch,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// options are the client's options for the request's optional fields;
// parseCheck has checked MaxAge.
func (req checkRequest) options() []client.CheckOption {
	var opts []client.CheckOption
	if req.Watch {
		opts = append(opts, client.Watch())
	}
	if maxAge, err := time.ParseDuration(req.MaxAge); err == nil {
		opts = append(opts, client.MaxAge(maxAge))
	}
	if req.RequestID != "" {
		opts = append(opts, client.RequestID(req.RequestID))
	}
	return opts
}
