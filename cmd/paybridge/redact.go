package main

import (
	"cmp"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// redacted stands in for a secret in anything paybridge shows.
const redacted = "[redacted]"

// redactURL is how every URL is shown: without its user information,
// which may be a password or a bare token (nats://TOKEN@host), and which
// url.URL.Redacted would show in the second case.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || strayAt(u) {
		return redacted // an unparsed URL may hold anything, and so may one whose password ended its host early
	}
	if u.User == nil {
		return u.String()
	}
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "//")
	return scheme + "//" + redacted + "@" + rest
}

// strayAt reports whether a parsed URL has an "@" that is not the end of
// its user information: a password such as "12/pw" or "42#pw", not
// percent-encoded, ends the authority early, so that the URL parses
// without user information and with the secret in its host, path, query
// or fragment.
func strayAt(u *url.URL) bool {
	return strings.Contains(u.Host+u.Opaque+u.Path+u.RawPath+u.RawQuery+u.Fragment, "@")
}

// redactURLs is redactURL for a comma-separated server list.
func redactURLs(list string) string {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = redactURL(strings.TrimSpace(p))
	}
	return strings.Join(parts, ",")
}

// urlSecrets are the passwords and tokens in a comma-separated URL list,
// decoded and as written, with the whole user information.
func urlSecrets(list string) []string {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		u, err := url.Parse(raw)
		if err != nil || u.User == nil {
			continue
		}
		if password, set := u.User.Password(); set {
			out = append(out, password, u.User.Username()+":"+password)
		} else {
			out = append(out, u.User.Username()) // a token
		}
		out = append(out, u.User.String(), rawUserinfo(raw))
		if _, written, set := strings.Cut(rawUserinfo(raw), ":"); set {
			out = append(out, written)
		}
	}
	return out
}

// rawUserinfo is the user information exactly as written in a URL.
func rawUserinfo(raw string) string {
	_, rest, _ := strings.Cut(raw, "//")
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	authority, _, _ = strings.Cut(authority, "#")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		return authority[:at]
	}
	return ""
}

// secretSet holds the configured secrets that no log line or message may
// show: provider keys, the webhook token, NATS passwords and tokens, and
// every merchant account's credentials, which arrive while serve runs. It
// blanks them where a library's error text could carry one. It is safe
// for concurrent use: a reload adds while log lines are redacted.
type secretSet struct {
	mu       sync.Mutex // serializes add
	known    map[string]bool
	replacer atomic.Pointer[strings.Replacer] // nil while there is nothing to hide
}

// add adds the non-empty values, all at once: a reload of 10,000 accounts
// builds one replacer, not 20,000.
func (s *secretSet) add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	for _, v := range values {
		if v != "" && !s.known[v] {
			if s.known == nil {
				s.known = map[string]bool{}
			}
			s.known[v], added = true, true
		}
	}
	if !added {
		return
	}
	// Longest first, so that "user:password" is blanked whole.
	all := slices.Collect(maps.Keys(s.known))
	slices.SortFunc(all, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, redacted)
	}
	s.replacer.Store(strings.NewReplacer(pairs...))
}

// redact returns text with every secret blanked.
func (s *secretSet) redact(text string) string {
	if s == nil {
		return text
	}
	if r := s.replacer.Load(); r != nil {
		return r.Replace(text)
	}
	return text
}
