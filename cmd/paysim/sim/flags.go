package sim

import (
	"flag"

	"github.com/paybridge/paybridge/providers"
	"github.com/paybridge/paybridge/providers/all"
)

// CredentialFlags defines --<provider>-<credential> for each credential a
// provider's fake checks, a required one defaulting to a made-up value
// (MadeUpCredentials("paysim-")), and returns the credentials the flags
// set once parsed: paysim's fakes accept them, and paybench sends them to
// an external paysim. A provider whose required credential is set empty
// is not served.
func CredentialFlags(fs *flag.FlagSet) map[string]providers.Credentials {
	defaults := MadeUpCredentials("paysim-")
	creds := map[string]providers.Credentials{}
	for _, d := range all.List {
		values := providers.Credentials{}
		creds[d.Name] = values
		for _, name := range d.Sim.Checks {
			usage := "the `" + name + "` the " + d.Title + " API accepts; empty: not checked"
			if defaults[d.Name][name] != "" {
				usage = "the `" + name + "` the " + d.Title + " API accepts; empty: " + d.Name + " is not served"
			}
			values[name] = defaults[d.Name][name]
			fs.Var(credential{values, name}, d.Flag(name), usage)
		}
	}
	return creds
}

// credential is the flag.Value of one credential in a provider's set.
type credential struct {
	creds providers.Credentials
	name  string
}

func (c credential) String() string         { return c.creds[c.name] }
func (c credential) Set(value string) error { c.creds[c.name] = value; return nil }
