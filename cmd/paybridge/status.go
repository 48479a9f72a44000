package main

import (
	"context"
	"io"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/client"
	"github.com/paybridge/paybridge/internal/cli"
)

// runStatus is `paybridge status`: one lookup on payments.status.get.
func (m *Main) runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	r, req, err := parseStatus(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	return m.request(ctx, r, client.WithStatusSubject, stdout, stderr,
		func(ctx context.Context, c *client.Client, opts []client.RequestOption) (paybridge.Reply, error) {
			return c.Status(ctx, req.Provider, req.PaymentID, statusOptions(opts)...)
		})
}

// parseStatus reads and checks status's command line; --help prints the
// usage to stdout.
func parseStatus(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) (requestFlags, statusRequest, error) {
	var r requestFlags
	f := statusFlags(&r)
	pos, err := f.parseOrHelp(args, lookupEnv, stdout)
	if err != nil {
		return r, statusRequest{}, err
	}
	if len(pos) != 2 {
		return r, statusRequest{}, cli.Usagef("status wants <provider> <payment-id> (see paybridge status --help)")
	}
	return r, statusRequest{Provider: pos[0], PaymentID: pos[1]}, r.validate(f)
}

// statusFlags defines status's flags on a new flagSet, filling r.
func statusFlags(r *requestFlags) *flagSet {
	f := newFlagSet("status", "status [flags] <provider> <payment-id>")
	f.fromEnvOnly = natsFlagNames
	r.register(f, client.DefaultStatusSubject, defaultStatusTimeout)
	return f
}

// statusRequest is the payment status was asked about (docs/contract.md,
// "Status lookups").
type statusRequest struct{ Provider, PaymentID string }
