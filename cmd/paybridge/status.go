package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/paybridge/paybridge/internal/cli"
)

// runStatus is `paybridge status`: one lookup on payments.status.get.
func (m *Main) runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var r requestFlags
	f := newFlagSet("status", "status [flags] <provider> <payment-id>")
	f.fromEnvOnly = natsFlagNames
	r.register(f, "payments.status.get")
	pos, err := f.parseOrHelp(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return cli.Usagef("status wants <provider> <payment-id> (see paybridge status --help)")
	}
	if err := r.validate(f); err != nil {
		return err
	}
	body, err := json.Marshal(statusRequest{Provider: pos[0], PaymentID: pos[1]})
	if err != nil {
		return err
	}
	return m.request(ctx, r, body, stdout, stderr)
}

// statusRequest is the body of a status lookup (SPEC section 4).
type statusRequest struct {
	Provider  string `json:"provider"`
	PaymentID string `json:"payment_id"`
}
