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
	if req.Queued {
		return m.enqueue(ctx, r, req, stdout, stderr)
	}
	return m.request(ctx, r, client.WithCheckSubject, stdout, stderr,
		func(ctx context.Context, c *client.Client, opts []client.RequestOption) (paybridge.Reply, error) {
			checkOpts := checkOptions(opts)
			for _, o := range req.options() {
				checkOpts = append(checkOpts, o)
			}
			return c.Check(ctx, req.Provider, req.PaymentID, checkOpts...)
		})
}

// parseCheck reads and checks check's command line; --help prints the
// usage to stdout.
func parseCheck(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (requestFlags, checkRequest, error) {
	var r requestFlags
	var req checkRequest
	var maxAge string
	f := checkFlags(&r, &req, &maxAge)
	pos, err := f.parseOrHelp(args, lookupEnv, stdout)
	if err != nil {
		return r, req, err
	}
	if len(pos) != 2 {
		return r, req, cli.Usagef("check wants <provider> <payment-id> (see paybridge check --help)")
	}
	req.Provider, req.PaymentID = pos[0], pos[1]
	if req.Queued && f.origin["subject"] == "" {
		r.subject = client.DefaultQueuedCheckSubject
	}
	if err := r.validate(f); err != nil {
		return r, req, err
	}
	if maxAge != "" {
		if req.MaxAge, err = time.ParseDuration(maxAge); err != nil || req.MaxAge < 0 {
			return r, req, f.bad("max-age", "want a duration such as 5m")
		}
	}
	return r, req, nil
}

// checkFlags defines check's flags on a new flagSet, filling r, req and
// maxAge (text, checked after parsing).
func checkFlags(r *requestFlags, req *checkRequest, maxAge *string) *flagSet {
	f := newFlagSet("check", "check [flags] <provider> <payment-id>")
	f.fromEnvOnly = natsFlagNames
	r.register(f, client.DefaultCheckSubject, client.CheckTimeout)
	f.Lookup("subject").Usage = "subject the request is sent on; with --queued, " + client.DefaultQueuedCheckSubject + " unless given"
	f.Lookup("timeout").Usage = "how long to wait for the reply (with --queued, for the stream's PubAck)"
	f.BoolVar(&req.Queued, "queued", false, "publish the check to the durable intake and print where the stream stored it, instead of waiting for the check's reply")
	f.BoolVar(&req.Watch, "watch", false, "keep re-checking the payment until its status is terminal")
	f.StringVar(maxAge, "max-age", "", "answer from the stored status when it was checked at most this long ago, e.g. 5m")
	f.StringVar(&req.RequestID, "request-id", "", "id echoed in the reply and the bridge's logs")
	return f
}

// checkRequest is what check was asked to send.
type checkRequest struct {
	Provider  string
	PaymentID string
	MaxAge    time.Duration // 0: ask the provider whatever is stored
	Watch     bool
	RequestID string
	Queued    bool // published to the durable intake rather than sent for a reply
}

// options are the client's options for the request's optional fields,
// which a check sent and a check queued take alike.
func (req checkRequest) options() []client.QueueableOption {
	var opts []client.QueueableOption
	if req.Watch {
		opts = append(opts, client.Watch())
	}
	if req.MaxAge > 0 {
		opts = append(opts, client.MaxAge(req.MaxAge))
	}
	if req.RequestID != "" {
		opts = append(opts, client.RequestID(req.RequestID))
	}
	return opts
}
