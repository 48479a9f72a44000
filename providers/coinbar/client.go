// Package coinbar is the CoinbarPay provider: a client of its payment
// status API, the table that maps its statuses, and a fake server.
package coinbar

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// Name is the provider's name in requests, keys and events.
const Name = "coinbar"

// DefaultBaseURL is CoinbarPay's sandbox, the host of every example in its
// documentation; production is likely https://pay.coinbar.io
// (docs/providers.md, "CoinbarPay hosts").
const DefaultBaseURL = "https://sandbox.coinbar.io"

// PathPrefix starts the path of every payment status URL:
// PathPrefix + {escaped payment_request_id} + "/status".
const PathPrefix = "/coinbar/api/v2/pay/gateway/payment/"

const pathSuffix = "/status"

// Client asks CoinbarPay for the status of a payment. It implements
// paybridge.Provider and is safe for concurrent use.
type Client struct {
	baseURL   string
	clientID  string
	secretKey string
	signature string // of the empty body: every status request has one
	http      *providers.HTTPClient
	// headers are every request's, the same for each: built per call they
	// were eight allocations per check. Nothing may change them.
	headers http.Header
}

var _ paybridge.Provider = (*Client)(nil)

type config struct {
	secretKey   string
	httpOptions []providers.HTTPOption
}

// Option configures a Client.
type Option func(*config) error

// WithSecretKey sets the SERVICE_SECRET_KEY; with it every request carries
// a SIGNATURE header. An empty key means no signature.
func WithSecretKey(secretKey string) Option {
	return func(c *config) error {
		if !providers.ValidHeaderValue(secretKey) {
			return errors.New("secret key must not contain control characters")
		}
		c.secretKey = secretKey
		return nil
	}
}

// WithHTTPOptions tunes the shared HTTP client: retries, backoff, timeouts,
// transport and logger.
func WithHTTPOptions(opts ...providers.HTTPOption) Option {
	return func(c *config) error {
		c.httpOptions = append(c.httpOptions, opts...)
		return nil
	}
}

// New returns a client of the API at baseURL (e.g. https://sandbox.coinbar.io)
// authenticating as clientID (the SERVICE_CLIENT_ID).
func New(baseURL, clientID string, opts ...Option) (*Client, error) {
	base, err := providers.ParseBaseURL(baseURL)
	if err != nil {
		return nil, fmt.Errorf("coinbar: %w", err)
	}
	if clientID == "" || !providers.ValidHeaderValue(clientID) {
		return nil, errors.New("coinbar: client id must be non-empty, without control characters")
	}
	var cfg config
	for _, opt := range opts {
		if err := opt(&cfg); err != nil {
			return nil, fmt.Errorf("coinbar: %w", err)
		}
	}
	hc, err := providers.NewHTTPClient(Name, cfg.httpOptions...)
	if err != nil {
		return nil, err
	}
	c := &Client{baseURL: base, clientID: clientID, secretKey: cfg.secretKey, http: hc}
	if cfg.secretKey != "" {
		c.signature = Signature(cfg.secretKey, nil)
	}
	c.headers = http.Header{}
	c.headers.Set("CBPAY-API-KEY", clientID)
	c.headers.Set("Content-Type", "application/json")
	if c.signature != "" {
		c.headers.Set("SIGNATURE", c.signature)
	}
	return c, nil
}

// Name implements paybridge.Provider.
func (c *Client) Name() string { return Name }

// Check implements paybridge.Provider: one GET of the payment's status,
// retried as the shared HTTP client's policy says.
func (c *Client) Check(ctx context.Context, paymentID string) (paybridge.Result, error) {
	if err := providers.CheckPaymentID(paymentID); err != nil {
		return paybridge.Result{}, err
	}
	status, body, err := c.http.Get(ctx, c.statusURL(paymentID), c.headers)
	if err != nil {
		return paybridge.Result{}, err
	}
	if text, ok := refusal(body); ok {
		return paybridge.Result{}, c.refused(status, text)
	}
	if err := c.http.StatusError(status); err != nil {
		return paybridge.Result{}, err
	}
	return decodeStatus(paymentID, body)
}

func (c *Client) statusURL(paymentID string) string {
	return c.baseURL + PathPrefix + url.PathEscape(paymentID) + pathSuffix
}

// Signature is CoinbarPay's SIGNATURE header for a request body: lowercase
// hex of HMAC-SHA256 keyed with the secret key. A GET signs the empty body.
func Signature(secretKey string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secretKey))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
