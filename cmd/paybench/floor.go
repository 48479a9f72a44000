package main

import (
	"context"
	"fmt"

	"github.com/paybridge/paybridge"
	"github.com/paybridge/paybridge/providers"
)

// The kinds of floor (--floor-kind).
const (
	// floorClient is the real provider client (HTTP GET, retry policy,
	// decode, mapping) and one KV read: what a check cannot avoid.
	floorClient = "client"
	// floorRaw is a plain GET, a generic JSON decode and one KV read: the
	// cheapest path any check could take.
	floorRaw = "raw"
)

// floorRunName names the floor's run in the report after its kind.
func floorRunName(kind string) string {
	if kind == floorRaw {
		return "raw-floor"
	}
	return "floor"
}

// paysimAccess is where a paysim answers and the credentials it accepts:
// the --self world's own, or an external one's from the flags.
type paysimAccess struct {
	url   string
	creds map[string]providers.Credentials // by provider name
}

// selfPaysim is the --self world's paysim at url.
func selfPaysim(url string) paysimAccess {
	return paysimAccess{url: url, creds: selfCredentials}
}

// paysim is the paysim the floor asks.
func (b *bench) paysim() paysimAccess {
	if b.world != nil {
		return selfPaysim(b.world.simURL)
	}
	return paysimAccess{url: b.o.paysimURL, creds: b.o.paysimCredentials}
}

// providers are the real clients of this paysim for the providers of
// list, with the default retry policy, as `paybridge serve` builds them.
func (a paysimAccess) providers(list []providers.Descriptor) ([]paybridge.Provider, error) {
	var out []paybridge.Provider
	for _, d := range list {
		c, err := d.New(a.url, a.creds[d.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// floorOp opens the status bucket and builds the floor's check of the
// kind asked for.
func (b *bench) floorOp(ctx context.Context) (op, error) {
	kv, err := b.js.KeyValue(ctx, b.o.bucket)
	if err != nil {
		return nil, fmt.Errorf("status bucket %s: %w", b.o.bucket, err)
	}
	access := b.paysim()
	if b.o.floorKind == floorRaw {
		return rawFloorCheck(ctx, newRawHTTPClient(), access, b.o.providers, kv)
	}
	provs, err := access.providers(b.o.providers)
	if err != nil {
		return nil, err
	}
	clients := map[string]paybridge.Provider{}
	for _, p := range provs {
		clients[p.Name()] = p
	}
	return floorCheck(clients, kv), nil
}
