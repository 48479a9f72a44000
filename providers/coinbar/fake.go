package coinbar

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/fake"
)

// Fake is a CoinbarPay status API for tests and the simulator: a
// fake.Engine speaking CoinbarPay's paths, credentials and body shapes.
// Mount it at PathPrefix or serve it with NewServer.
type Fake struct {
	*fake.Engine
}

// NewFake returns a fake that accepts clientID as CBPAY-API-KEY and, when
// secretKey is not empty, checks the SIGNATURE header too.
func NewFake(clientID, secretKey string, opts ...fake.Option) (*Fake, error) {
	if clientID == "" {
		return nil, errors.New("coinbar fake: client id must not be empty")
	}
	d := fakeDialect{clientID: clientID, secretKey: secretKey}
	e, err := fake.New(fake.Dialect{
		PaymentID:  paymentIDFromPath,
		Authorized: d.authorized,
		Render:     d.render,
		ErrorBody:  errorBody,
	}, opts...)
	if err != nil {
		return nil, err
	}
	return &Fake{Engine: e}, nil
}

type fakeDialect struct {
	clientID  string
	secretKey string
}

func paymentIDFromPath(escapedPath string) (string, bool) {
	rest, ok := strings.CutPrefix(escapedPath, PathPrefix)
	if !ok {
		return "", false
	}
	segment, ok := strings.CutSuffix(rest, pathSuffix)
	if !ok || segment == "" || strings.Contains(segment, "/") {
		return "", false
	}
	id, err := url.PathUnescape(segment)
	return id, err == nil
}

func (d fakeDialect) authorized(r *http.Request) bool {
	if !sameString(r.Header.Get("CBPAY-API-KEY"), d.clientID) {
		return false
	}
	if d.secretKey == "" {
		return true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, providers.MaxBodyBytes))
	return err == nil && sameString(r.Header.Get("SIGNATURE"), Signature(d.secretKey, body))
}

func sameString(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// wireTime is how CoinbarPay writes times: "2022-05-11T12:30:35.059Z".
const wireTime = "2006-01-02T15:04:05.000Z"

type wireStatus struct {
	PaymentIDCoinbar       string     `json:"payment_id_coinbar"`
	PaymentRequestIDClient string     `json:"payment_request_id_client"`
	ServiceClientID        string     `json:"service_client_id"`
	Status                 string     `json:"status"`
	PaymentDetail          wireDetail `json:"payment_detail"`
	InputCoin              string     `json:"input_coin"`
	CreationTime           string     `json:"creation_time"`
	UpdateTime             string     `json:"update_time"`
	StatusDescr            *string    `json:"status_descr"`
}

type wireDetail struct {
	DestinationCoin   *string      `json:"destination_coin"`
	TradePair         *string      `json:"trade_pair"`
	DestinationAmount *json.Number `json:"destination_amount"`
	CoinChange        *json.Number `json:"coin_change"`
	TotalPrice        json.Number  `json:"total_price"`
}

// render writes the documented 200 body; amounts are raw JSON numbers
// with exactly the payment's text.
func (d fakeDialect) render(s fake.State) ([]byte, error) {
	p := s.Payment
	w := wireStatus{
		PaymentIDCoinbar:       coinbarID(p.ID),
		PaymentRequestIDClient: p.ID,
		ServiceClientID:        d.clientID,
		Status:                 s.Step.Status,
		PaymentDetail:          wireDetail{TotalPrice: json.Number(p.Amount)},
		InputCoin:              p.Currency,
		CreationTime:           p.CreatedAt.UTC().Format(wireTime),
		UpdateTime:             s.Since.UTC().Format(wireTime),
	}
	if s.Step.Detail != "" {
		w.StatusDescr = &s.Step.Detail
	}
	if p.CryptoCoin != "" {
		pair := p.CryptoCoin + "/" + p.Currency
		w.PaymentDetail.DestinationCoin, w.PaymentDetail.TradePair = &p.CryptoCoin, &pair
	}
	if p.CryptoAmount != "" {
		amount := json.Number(p.CryptoAmount)
		w.PaymentDetail.DestinationAmount = &amount
		w.PaymentDetail.CoinChange = exchangeRate(p.Amount, p.CryptoAmount)
	}
	return json.Marshal(w)
}

// exchangeRate is fiat per coin to three places, as coin_change shows it;
// nil when the crypto amount is zero.
func exchangeRate(fiat, crypto string) *json.Number {
	f, okF := new(big.Rat).SetString(fiat)
	c, okC := new(big.Rat).SetString(crypto)
	if !okF || !okC || c.Sign() == 0 {
		return nil
	}
	rate := json.Number(new(big.Rat).Quo(f, c).FloatString(3))
	return &rate
}

// coinbarID derives CoinbarPay's own UUID-shaped id from the merchant's.
func coinbarID(id string) string {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:16])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// errorBody is CoinbarPay's error shape, with the words it uses.
func errorBody(status int) []byte {
	text := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		text = "Payment not found"
	case http.StatusTooManyRequests:
		text = "Api RATE exceeded"
	}
	b, _ := json.Marshal(struct {
		Result bool   `json:"result"`
		Error  string `json:"error"`
	}{false, text})
	return b
}
