package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/paybridge/paybridge/bridge"
	"github.com/paybridge/paybridge/providers"
)

// Codes of the raw floor's failures.
const (
	codeHTTP   = "http_error"
	codeDecode = "decode_error"
)

// newRawHTTPClient is net/http's transport as any client would take it,
// with as many idle connections as the bridge's pool keeps: with fewer the
// raw floor would pay for dialling that the bridge does not.
func newRawHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = providers.IdleConnsPerHost
	t.MaxIdleConnsPerHost = providers.IdleConnsPerHost
	return &http.Client{Transport: t}
}

// rawFloorCheck is the cheapest path any check could take: a plain GET of
// the payment's status URL with the headers the real client sends, the
// body decoded into a generic map, and one read of the stored status. No
// provider client, no retry policy, no mapping, no NATS request: the
// bridge's throughput over this is what all of its work costs.
func rawFloorCheck(ctx context.Context, client *http.Client, paysim paysimAccess, list []providers.Descriptor, kv jetstream.KeyValue) (op, error) {
	headers := map[string]http.Header{}
	for _, d := range list {
		h, err := clientHeader(ctx, d, paysim.creds[d.Name])
		if err != nil {
			return nil, err
		}
		headers[d.Name] = h
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
	}, nil
}

// clientHeader is the header the real client of d sends with a status
// request, credentials included, learned from one request to a server
// that records it: the raw floor sends the same without the client.
func clientHeader(ctx context.Context, d providers.Descriptor, creds providers.Credentials) (http.Header, error) {
	sent := make(chan http.Header, 1)
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case sent <- r.Header.Clone():
		default:
		}
		w.WriteHeader(http.StatusNotFound)
	}))
	defer recorder.Close()
	c, err := d.New(recorder.URL, creds, providers.WithRetries(0))
	if err != nil {
		return nil, err
	}
	_, _ = c.Check(ctx, "header-probe") // answered 404: only the request matters
	select {
	case h := <-sent:
		h.Del("Accept-Encoding") // the transport's own, which it adds again
		return h, nil
	default:
		return nil, fmt.Errorf("the %s client sent no request to learn its header from", d.Name)
	}
}
