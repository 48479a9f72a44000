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

// printBanner says where each provider is served, which credentials it
// checks and which payments to ask about. It never prints a credential,
// nor the SIGNATURE derived from the secret key (over an empty body, it
// is as good as the key): only the flag each comes from, as the curl
// examples do.
func printBanner(w io.Writer, baseURL string, cfg sim.Config) {
	fmt.Fprintf(w, "paysim listening on %s\n\n", baseURL)
	fmt.Fprintf(w, "coinbar  base URL %s  (GET %s{payment_request_id}/status)\n", baseURL, coinbar.PathPrefix)
	fmt.Fprintf(w, "         CBPAY-API-KEY: the value of --coinbar-client-id (set; not shown)\n")
	if cfg.CoinbarSecretKey != "" {
		fmt.Fprintf(w, "         SIGNATURE:     checked: hex HMAC-SHA256 of the empty body keyed with --coinbar-secret-key (set; not shown)\n")
	} else {
		fmt.Fprintf(w, "         SIGNATURE:     not checked (no --coinbar-secret-key)\n")
	}
	fmt.Fprintf(w, "         payments: %s\n", ids(cfg.Scenario.Coinbar))
	fmt.Fprintf(w, "muvinai  base URL %s  (GET %s{id})\n", baseURL, muvinai.PathPrefix)
	fmt.Fprintf(w, "         Authorization: Bearer <the value of --muvinai-api-key> (set; not shown)\n")
	fmt.Fprintf(w, "         payments: %s\n\n", ids(cfg.Scenario.Muvinai))
	if len(cfg.Scenario.Muvinai) == 0 && len(cfg.Scenario.Coinbar) == 0 {
		return
	}
	vars := "MUVINAI_API_KEY and COINBAR_CLIENT_ID"
	if cfg.CoinbarSecretKey != "" {
		vars = "MUVINAI_API_KEY, COINBAR_CLIENT_ID and COINBAR_SECRET_KEY"
	}
	fmt.Fprintf(w, "try, with %s set to the values given to paysim:\n", vars)
	if len(cfg.Scenario.Muvinai) > 0 {
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $MUVINAI_API_KEY\" %s%s%s\n", baseURL, muvinai.PathPrefix, url.PathEscape(cfg.Scenario.Muvinai[0].ID))
	}
	if len(cfg.Scenario.Coinbar) > 0 {
		signature := ""
		if cfg.CoinbarSecretKey != "" {
			fmt.Fprintf(w, "  COINBAR_SIGNATURE=$(printf '' | openssl dgst -sha256 -hmac \"$COINBAR_SECRET_KEY\" | sed 's/.* //')\n")
			signature = " -H \"SIGNATURE: $COINBAR_SIGNATURE\""
		}
		fmt.Fprintf(w, "  curl -H \"CBPAY-API-KEY: $COINBAR_CLIENT_ID\"%s %s%s%s/status\n", signature, baseURL, coinbar.PathPrefix, url.PathEscape(cfg.Scenario.Coinbar[0].ID))
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
