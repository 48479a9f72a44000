package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/internal/cli"
)

// natsFlags are the connection flags every subcommand shares.
type natsFlags struct {
	url     string
	creds   string // a .creds file (JWT and seed)
	nkey    string // a file holding an NKey seed
	tlsCA   string
	tlsCert string
	tlsKey  string
}

// natsFlagNames are the connection flags; they read PAYBRIDGE_NATS_*
// variables in every subcommand.
var natsFlagNames = []string{"nats-url", "nats-creds", "nats-nkey", "nats-tls-ca", "nats-tls-cert", "nats-tls-key"}

func (n *natsFlags) register(f *flagSet, defaultURL, urlUsage string) {
	f.StringVar(&n.url, "nats-url", defaultURL, urlUsage)
	f.readableFromFile("nats-url")
	f.StringVar(&n.creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed)")
	f.StringVar(&n.nkey, "nats-nkey", "", "file holding an NKey seed to authenticate with")
	f.StringVar(&n.tlsCA, "nats-tls-ca", "", "PEM file of the CA that signed the NATS server's certificate")
	f.StringVar(&n.tlsCert, "nats-tls-cert", "", "PEM client certificate for NATS (with --nats-tls-key)")
	f.StringVar(&n.tlsKey, "nats-tls-key", "", "PEM private key of --nats-tls-cert")
}

// validate checks the flags without connecting. An empty URL is allowed
// only where the caller starts an embedded server instead.
func (n *natsFlags) validate(f *flagSet) error {
	if n.url != "" {
		if err := checkNATSURLs(f.where("nats-url"), n.url); err != nil {
			return err
		}
	}
	for _, name := range natsFlagNames {
		path := f.Lookup(name).Value.String()
		if name == "nats-url" || path == "" {
			continue
		}
		if n.url == "" {
			return f.bad(name, "needs --nats-url: the embedded server takes no credentials")
		}
		file, err := os.Open(path)
		if err != nil {
			return cli.Usagef("%s: %v", f.where(name), err)
		}
		file.Close()
	}
	switch {
	case n.creds != "" && n.nkey != "":
		return cli.Usagef("--nats-creds and --nats-nkey both set; use one")
	case (n.tlsCert == "") != (n.tlsKey == ""):
		return cli.Usagef("--nats-tls-cert and --nats-tls-key go together")
	}
	return nil
}

// checkNATSURLs checks a comma-separated server list. A password with
// "/", "?", "#" or "," in it, not percent-encoded, ends the host part (or
// the URL) early: nats://user:12/pw@host parses as host "user:12" with no
// user information, and would be shown and logged whole. So a URL with an
// "@" that does not end its user information is refused first, in any
// part of the list (a comma splits such a URL in two, and the part with
// the "@" may come second), without showing the URL.
func checkNATSURLs(where, list string) error {
	parts := strings.Split(list, ",")
	for i, one := range parts {
		parts[i] = strings.TrimSpace(one)
		if u, err := url.Parse(parts[i]); strings.Contains(one, "@") && (err != nil || strayAt(u)) {
			return cli.Usagef(`%s: a URL has an "@" outside its user information: percent-encode the password `+
				`(%% as %%25, / as %%2F, ? as %%3F, # as %%23, @ as %%40, a comma as %%2C)`, where)
		}
	}
	for _, one := range parts {
		if err := checkNATSURL(where, one); err != nil {
			return err
		}
	}
	return nil
}

// checkNATSURL checks one server URL. The error shows the URL without
// its user information, or not at all when it cannot be parsed.
func checkNATSURL(where, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !strings.Contains(raw, "://") {
		return cli.Usagef("%s: want URLs such as nats://127.0.0.1:4222", where)
	}
	switch {
	case u.Scheme != "nats" && u.Scheme != "tls" && u.Scheme != "ws" && u.Scheme != "wss":
		return cli.Usagef("%s %q: scheme must be nats, tls, ws or wss", where, redactURL(raw))
	case u.Hostname() == "":
		return cli.Usagef("%s %q: no host", where, redactURL(raw))
	}
	return nil
}

// connectOptions are the options of every paybridge connection: named,
// authenticated as configured, reconnecting forever with a jittered
// backoff, and logging each disconnect and reconnect.
func (n *natsFlags) connectOptions(log *slog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name("paybridge"),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(reconnectDelay),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("NATS disconnected", "error", err)
			} else if !nc.IsClosed() && !nc.IsDraining() {
				log.Warn("NATS disconnected")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "url", redactURLs(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "error", err)
		}),
	}
	if n.creds != "" {
		opts = append(opts, nats.UserCredentials(n.creds))
	}
	if n.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(n.nkey)
		if err != nil {
			return nil, cli.Usagef("--nats-nkey: %v", err)
		}
		opts = append(opts, opt)
	}
	if n.tlsCA != "" {
		opts = append(opts, nats.RootCAs(n.tlsCA))
	}
	if n.tlsCert != "" {
		opts = append(opts, nats.ClientCert(n.tlsCert, n.tlsKey))
	}
	return opts, nil
}

// reconnectDelay backs off from 100ms to 5s, doubling per failed round
// over the server list, with up to half again of random jitter so that a
// fleet does not reconnect in step.
func reconnectDelay(attempts int) time.Duration {
	d := 100 * time.Millisecond << min(attempts, 6)
	d = min(d, 5*time.Second)
	return d + rand.N(d/2+1)
}

// connect dials url with the shared options and fails at once when no
// server answers: for the client subcommands.
func (n *natsFlags) connect(log *slog.Logger) (*nats.Conn, error) {
	opts, err := n.connectOptions(log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(n.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(n.url), err)
	}
	return nc, nil
}

// connectPatiently dials url and keeps trying until a server answers or
// ctx ends: serve may start before its NATS server does.
func (n *natsFlags) connectPatiently(ctx context.Context, url string, log *slog.Logger) (*nats.Conn, error) {
	opts, err := n.connectOptions(log)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.RetryOnFailedConnect(true))...)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(url), err)
	}
	changed := nc.StatusChanged(nats.CONNECTED, nats.CLOSED)
	defer nc.RemoveStatusListener(changed)
	status := nc.Status()
	if status != nats.CONNECTED && status != nats.CLOSED {
		log.Warn("waiting for NATS", "url", redactURLs(url))
		select {
		case status = <-changed:
		case <-ctx.Done():
			nc.Close()
			return nil, fmt.Errorf("no NATS server answered at %s", redactURLs(url))
		}
	}
	if status == nats.CLOSED { // nats.go gave up: wrong credentials, say
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURLs(url), closedError(nc))
	}
	return nc, nil
}

// closedError says why nats.go closed nc for good.
func closedError(nc *nats.Conn) error {
	if err := nc.LastError(); err != nil {
		return fmt.Errorf("NATS connection closed: %w", err)
	}
	return errors.New("NATS connection closed")
}
