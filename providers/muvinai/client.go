// Package muvinai is the Muvinai (SimpleFi) provider: a client of its
// payment request API, the table that maps its statuses, and a fake server.
package muvinai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// Name is the provider's name in requests, keys and events.
const Name = "muvinai"

// DefaultBaseURL is SimpleFi's production API; it documents no sandbox
// (docs/providers.md, "Muvinai hosts").
const DefaultBaseURL = "https://api.simplefi.tech"

// PathPrefix starts the path of every payment request URL:
// PathPrefix + {escaped id}.
const PathPrefix = "/payment_requests/"

// Client asks Muvinai for the status of a payment request. It implements
// paybridge.Provider and is safe for concurrent use.
type Client struct {
	baseURL      string
	apiKey       string
	webhookToken string
	http         *providers.HTTPClient
	// headers are every request's, the same for each, built once. Nothing
	// may change them.
	headers http.Header
}

var _ paybridge.Provider = (*Client)(nil)

type config struct {
	httpOptions  []providers.HTTPOption
	webhookToken string
}

// Option configures a Client.
type Option func(*config) error

// WithHTTPOptions tunes the shared HTTP client: retries, backoff, timeouts,
// transport and logger.
func WithHTTPOptions(opts ...providers.HTTPOption) Option {
	return func(c *config) error {
		c.httpOptions = append(c.httpOptions, opts...)
		return nil
	}
}

// WithWebhookToken sets the token a notification URL must carry
// (?token=…) for its webhook to be taken; none refuses every webhook.
func WithWebhookToken(token string) Option {
	return func(c *config) error {
		c.webhookToken = token
		return nil
	}
}

// New returns a client of the API at baseURL (e.g. https://api.simplefi.tech)
// sending apiKey as its bearer token.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	base, err := providers.ParseBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("muvinai: %w", err)
	}
	if apiKey == "" || !providers.ValidHeaderValue(apiKey) {
		return nil, errors.New("muvinai: api key must be non-empty, without control characters")
	}
	var cfg config
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("muvinai: %w", err)
		}
	}
	hc, err := providers.NewHTTPClient(Name, cfg.httpOptions...)
	if err != nil {
		return nil, err
	}
	headers := http.Header{}
	headers.Set("Authorization", "Bearer "+apiKey)
	headers.Set("Accept", "application/json")
	return &Client{baseURL: base, apiKey: apiKey, webhookToken: cfg.webhookToken, http: hc, headers: headers}, nil
}

// Name implements paybridge.Provider.
func (c *Client) Name() string { return Name }

// Check implements paybridge.Provider: one GET of the payment request,
// retried as the shared HTTP client's policy says.
func (c *Client) Check(ctx context.Context, paymentID string) (paybridge.Result, error) {
	if err := providers.CheckPaymentID(paymentID); err != nil {
		return paybridge.Result{}, err
	}
	status, body, err := c.http.Get(ctx, c.baseURL+PathPrefix+url.PathEscape(paymentID), c.headers)
	if err != nil {
		return paybridge.Result{}, err
	}
	if status == http.StatusUnprocessableEntity {
		return paybridge.Result{}, c.invalid(body)
	}
	if err := c.http.StatusError(status); err != nil {
		return paybridge.Result{}, err
	}
	return decodeStatus(paymentID, body)
}

// invalid is the error for a 422, quoting what Muvinai said was wrong.
// The credential is blanked out before the text is cut (so no part of it
// survives the cut) and quoted (so quoting cannot disguise it); quoted, the
// provider's words cannot put a line break in the NATS header they reach.
func (c *Client) invalid(body []byte) error {
	detail := validationDetail(body)
	if detail == "" {
		return badResponse("rejected the request as invalid (HTTP 422)")
	}
	return badResponse("rejected the request as invalid (HTTP 422): %q", providers.Quotable(detail, 200, c.apiKey))
}
