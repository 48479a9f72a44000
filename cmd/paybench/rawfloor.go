package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// Codes of the raw floor's failures.
const (
	codeHTTP   = "http_error"
	codeDecode = "decode_error"
)

// newRawHTTPClient has the provider clients' transport: with fewer idle
// connections the raw floor would pay for dialling that the bridge does
// not.
func newRawHTTPClient() *http.Client {
	return &http.Client{Transport: providers.PooledTransport()}
}

// rawFloorCheck is the cheapest path any check could take: a plain GET of
// the payment's status URL with the credentials header, the body decoded
// into a generic map, and one read of the stored status. No provider
// client, no retry policy, no mapping, no NATS request: the bridge's
// throughput over this is what all of its work costs.
func rawFloorCheck(client *http.Client, paysim paysimAccess, kv jetstream.KeyValue) op {
	headers := map[string]http.Header{
		coinbar.Name: {"Cbpay-Api-Key": {paysim.coinbarClientID}},
		muvinai.Name: {"Authorization": {"Bearer " + paysim.muvinaiAPIKey}},
	}
	return func(ctx context.Context, p *payment) outcome {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, paysim.url+p.path, nil)
		if err != nil {
			return outcome{code: codeHTTP}
		}
		req.Header = headers[p.provider].Clone()
		resp, err := client.Do(req)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				return outcome{code: codeTimeout}
			}
			return outcome{code: codeHTTP}
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			return outcome{code: codeHTTP}
		case resp.StatusCode != http.StatusOK:
			return outcome{code: "http_" + strconv.Itoa(resp.StatusCode)}
		}
		var doc map[string]any
		if json.Unmarshal(body, &doc) != nil {
			return outcome{code: codeDecode}
		}
		_, err = kv.Get(ctx, bridge.Key(p.provider, p.id))
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return outcome{code: codeKV}
		}
		return outcome{}
	}
}
