package main

import (
	"cmp"
	"net/url"
	"slices"
	"strings"
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
// show: provider keys, the webhook token, NATS passwords and tokens. It
// blanks them where a library's error text could carry one.
type secretSet struct {
	values   []string
	replacer *strings.Replacer // nil while there is nothing to hide
}

// add adds the non-empty values. Call it before the set is used.
func (s *secretSet) add(values ...string) {
	for _, v := range values {
		if v != "" && !slices.Contains(s.values, v) {
			s.values = append(s.values, v)
		}
	}
	// Longest first, so that "user:password" is blanked whole.
	slices.SortFunc(s.values, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(s.values))
	for _, v := range s.values {
		pairs = append(pairs, v, redacted)
	}
	if len(pairs) > 0 {
		s.replacer = strings.NewReplacer(pairs...)
	}
}

// redact returns text with every secret blanked.
func (s *secretSet) redact(text string) string {
	if s == nil || s.replacer == nil {
		return text
	}
	return s.replacer.Replace(text)
}
