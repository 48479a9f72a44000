package main

import (
	"fmt"
	"io"
	"net/url"

	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/providers/coinbar"
	"github.com/paybridge/paybridge/providers/fake"
	"github.com/paybridge/paybridge/providers/muvinai"
)

// printBanner says where each provider is served, with what credentials,
// and which payments to ask about. The credentials are the simulator's
// own test values: printing them is the point.
func printBanner(w io.Writer, baseURL string, cfg sim.Config) {
	secret := "(none: SIGNATURE is not checked)"
	if cfg.CoinbarSecretKey != "" {
		secret = cfg.CoinbarSecretKey
	}
	fmt.Fprintf(w, "paysim listening on %s\n\n", baseURL)
	fmt.Fprintf(w, "coinbar  base URL %s  (GET %s{payment_request_id}/status)\n", baseURL, coinbar.PathPrefix)
	fmt.Fprintf(w, "         CBPAY-API-KEY: %s\n         secret key:    %s\n", cfg.CoinbarClientID, secret)
	fmt.Fprintf(w, "         payments: %s\n", ids(cfg.Scenario.Coinbar))
	fmt.Fprintf(w, "muvinai  base URL %s  (GET %s{id})\n", baseURL, muvinai.PathPrefix)
	fmt.Fprintf(w, "         Authorization: Bearer %s\n", cfg.MuvinaiAPIKey)
	fmt.Fprintf(w, "         payments: %s\n\n", ids(cfg.Scenario.Muvinai))
	if len(cfg.Scenario.Muvinai) > 0 {
		fmt.Fprintf(w, "try: curl -H 'Authorization: Bearer %s' %s%s%s\n", cfg.MuvinaiAPIKey, baseURL, muvinai.PathPrefix, url.PathEscape(cfg.Scenario.Muvinai[0].ID))
	}
	if len(cfg.Scenario.Coinbar) > 0 {
		signature := ""
		if cfg.CoinbarSecretKey != "" {
			signature = fmt.Sprintf(" -H 'SIGNATURE: %s'", coinbar.Signature(cfg.CoinbarSecretKey, nil))
		}
		fmt.Fprintf(w, "     curl -H 'CBPAY-API-KEY: %s'%s %s%s%s/status\n", cfg.CoinbarClientID, signature, baseURL, coinbar.PathPrefix, url.PathEscape(cfg.Scenario.Coinbar[0].ID))
	}
}

// ids lists a few payment ids, and how many there are in all.
func ids(payments []fake.Payment) string {
	const shown = 3
	if len(payments) == 0 {
		return "none"
	}
	out := ""
	for i, p := range payments[:min(shown, len(payments))] {
		if i > 0 {
			out += ", "
		}
		out += p.ID
	}
	if len(payments) > shown {
		out += fmt.Sprintf(", … (%d in all)", len(payments))
	}
	return out
}
