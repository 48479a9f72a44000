package main

import (
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
	"github.com/paybridge/paybridge/providers/fake"
)

// printBanner says where each provider is served, which credentials it
// checks and which payments to ask about, for the default account and
// each merchant account. It never prints a credential, nor anything
// derived from one (a signature over an empty body is as good as its
// key): only the flag or the accounts directory each comes from, as the
// curl examples do.
func printBanner(w io.Writer, baseURL string, cfg sim.Config) {
	fmt.Fprintf(w, "paysim listening on %s\n\n", baseURL)
	width := 0
	for _, d := range all.List {
		width = max(width, len(d.Name))
	}
	indent := strings.Repeat(" ", width+2)
	var vars []string
	var try []string
	withAccounts := false
	for _, d := range all.List {
		creds, accounts := cfg.Credentials[d.Name], cfg.Accounts[d.Name]
		if !d.Enabled(creds) && len(accounts) == 0 {
			fmt.Fprintf(w, "%-*s  not served (no %s)\n", width, d.Name, missingFlags(d, creds))
			continue
		}
		fmt.Fprintf(w, "%-*s  base URL %s  (GET %s)\n", width, d.Name, baseURL, pathPattern(d.Sim.StatusPath))
		if !d.Enabled(creds) {
			fmt.Fprintf(w, "%sdefault account: not served (no %s)\n", indent, missingFlags(d, creds))
		} else {
			shellVars := map[string]string{}
			for _, name := range d.Sim.Checks {
				if creds[name] == "" {
					fmt.Fprintf(w, "%s%s: not checked (no --%s)\n", indent, name, d.Flag(name))
					continue
				}
				fmt.Fprintf(w, "%s%s: checked, the value of --%s (set; not shown)\n", indent, name, d.Flag(name))
				shellVars[name] = shellVar(d.Flag(name))
				vars = append(vars, shellVars[name])
			}
			payments := cfg.Scenario[d.Name]
			fmt.Fprintf(w, "%spayments: %s\n", indent, ids(payments))
			if len(payments) > 0 {
				try = append(try, d.Sim.Curl(baseURL+d.Sim.StatusPath(payments[0].ID), shellVars)...)
			}
		}
		names := slices.Sorted(maps.Keys(accounts))
		nameWidth := 0
		for _, name := range names {
			nameWidth = max(nameWidth, len(name))
		}
		for _, name := range names {
			withAccounts = true
			var checked []string
			for _, c := range d.Sim.Checks {
				if accounts[name][c] != "" {
					checked = append(checked, c)
				}
			}
			fmt.Fprintf(w, "%saccount %-*s  payments: %s\n", indent, nameWidth, name, ids(cfg.AccountScenario[d.Name][name]))
			fmt.Fprintf(w, "%s        %-*s  checked: %s, the values of its files in --accounts-dir (not shown)\n", indent, nameWidth, "", strings.Join(checked, ", "))
		}
	}
	fmt.Fprintln(w)
	if len(try) > 0 {
		fmt.Fprintf(w, "try, with %s set to the values given to paysim:\n", andList(vars))
		for _, line := range try {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	if withAccounts {
		fmt.Fprintln(w, "an account's payments answer to its own credentials only: the same id under two accounts is two payments")
	}
}

// missingFlags names the flags of the required credentials d lacks:
// "--coinbar-api-key".
func missingFlags(d providers.Descriptor, creds providers.Credentials) string {
	var missing []string
	for _, c := range d.Credentials {
		if c.Required && creds[c.Name] == "" {
			missing = append(missing, "--"+d.Flag(c.Name))
		}
	}
	return strings.Join(missing, ", no ")
}

// pathPattern is a status path with {id} for the payment id.
func pathPattern(statusPath func(id string) string) string {
	p, err := url.PathUnescape(statusPath("{id}"))
	if err != nil {
		return statusPath("{id}")
	}
	return p
}

// shellVar is the shell variable the banner's examples read a flag's
// value from: <provider>-api-key is <PROVIDER>_API_KEY.
func shellVar(flag string) string { return strings.ToUpper(strings.ReplaceAll(flag, "-", "_")) }

// andList joins items as a sentence does: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
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
