package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/paybridge/paybridge/internal/cli"
)

// runCheck is `paybridge check`: one request on payments.check.
func (m *Main) runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var r requestFlags
	var watch bool
	var maxAge, requestID string
	f := newFlagSet("check", "check [flags] <provider> <payment-id>")
	f.fromEnvOnly = natsFlagNames
	r.register(f, "payments.check")
	f.BoolVar(&watch, "watch", false, "keep re-checking the payment until its status is terminal")
	f.StringVar(&maxAge, "max-age", "", "answer from the stored status when it was checked at most this long ago, e.g. 5m")
	f.StringVar(&requestID, "request-id", "", "id echoed in the reply and the bridge's logs")
	pos, err := f.parseOrHelp(args, m.LookupEnv, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return cli.Usagef("check wants <provider> <payment-id> (see paybridge check --help)")
	}
	if err := r.validate(f); err != nil {
		return err
	}
	if d, err := time.ParseDuration(maxAge); maxAge != "" && (err != nil || d < 0) {
		return f.bad("max-age", "want a duration such as 5m")
	}
	body, err := json.Marshal(checkRequest{Provider: pos[0], PaymentID: pos[1], MaxAge: maxAge, Watch: watch, RequestID: requestID})
	if err != nil {
		return err
	}
	return m.request(ctx, r, body, stdout, stderr)
}

// checkRequest is the body of a check request (SPEC section 3).
type checkRequest struct {
	Provider  string `json:"provider"`
	PaymentID string `json:"payment_id"`
	MaxAge    string `json:"max_age,omitempty"`
	Watch     bool   `json:"watch,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}
