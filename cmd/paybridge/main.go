// Command paybridge is the payment status bridge (serve), its clients
// (check, status, events) and a self-contained demo.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/paybridge/paybridge/cmd/paybridge/internal/stopsignal"
	"github.com/paybridge/paybridge/internal/cli"
	"github.com/paybridge/paybridge/providers/all"
)

func main() {
	// The signals were caught from the program's start: see stopsignal.
	ctx, stop := stopsignal.Context()
	defer stop()
	m := NewMain()
	err := m.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop() // a second signal now kills the process, as usual
	if closeErr := m.Close(); err == nil {
		err = closeErr
	}
	code := cli.ExitCode(err)
	if code != 0 && !errors.Is(err, errAnswered) {
		// Errors carry what servers and providers said: escaped, as in logs.
		fmt.Fprintln(os.Stderr, "paybridge:", escapeForTerminal(m.secrets.redact(err.Error())))
	}
	os.Exit(code)
}

// errAnswered means the bridge answered with an error reply, which has
// been printed already: exit status 1 and nothing more to say.
var errAnswered = errors.New("the bridge answered with an error")

// Main is the whole program, runnable in-process by tests: Run runs one
// subcommand until it is done or ctx ends, Close then releases what it
// opened, in reverse order.
type Main struct {
	// LookupEnv reads PAYBRIDGE_* variables; os.LookupEnv by default.
	LookupEnv func(string) (string, bool)

	closers []closer
	secrets secretSet // what the subcommand was configured with and must never show
}

// closer releases one thing Run opened.
type closer struct {
	name  string
	close func(context.Context) error
}

// NewMain returns a Main reading the process environment.
func NewMain() *Main { return &Main{LookupEnv: os.LookupEnv} }

// subcommand runs one command of the binary.
type subcommand struct {
	name    string
	summary string
	run     func(m *Main, ctx context.Context, args []string, stdout, stderr io.Writer) error
	// flags is a new set of the command's flags, as run defines them: what
	// its --help prints, and what the docs' flag tables are tested against.
	flags func() *flagSet
}

var subcommands = []subcommand{
	{"serve", "run the bridge: NATS requests in, provider calls out, status events published", (*Main).runServe,
		func() *flagSet { return serveFlags(new(serveConfig), new(rawServeFlags)) }},
	{"check", "ask the bridge to check one payment with its provider now", (*Main).runCheck,
		func() *flagSet { return checkFlags(new(requestFlags), new(checkRequest), new(string)) }},
	{"status", "read the stored status of one payment, without calling the provider", (*Main).runStatus,
		func() *flagSet { return statusFlags(new(requestFlags)) }},
	{"events", "print status events as they are published", (*Main).runEvents,
		func() *flagSet { return eventsFlags(new(eventsOptions)) }},
	{"demo", "run NATS, a provider simulator and the bridge in one process, with live events", (*Main).runDemo,
		func() *flagSet { return demoFlags(new(demoOptions)) }},
}

// Run runs the subcommand named by args[0].
func (m *Main) Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		printCommands(stdout)
		return nil
	}
	for _, c := range subcommands {
		if c.name == args[0] {
			return c.run(m, ctx, args[1:], stdout, stderr)
		}
	}
	return cli.Usagef("unknown command %q (run paybridge help)", args[0])
}

func printCommands(w io.Writer) {
	var titles []string
	for _, d := range all.List {
		titles = append(titles, d.Title)
	}
	fmt.Fprintf(w, "paybridge: a NATS payment status bridge for %s\n", andList(titles))
	fmt.Fprintln(w, "\nUsage: paybridge <command> [flags] [arguments]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun paybridge <command> --help for a command's flags.")
}

// onClose registers a release step for Close.
func (m *Main) onClose(name string, f func(context.Context) error) {
	m.closers = append(m.closers, closer{name, f})
}

// Close releases, last opened first, everything Run opened: for serve the
// bridge (in-flight checks are answered), the HTTP server, the NATS
// connection, then the embedded server. It is bounded by drainTimeout and
// safe to call more than once.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		if err := m.closers[i].close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m.closers[i].name, err))
		}
	}
	m.closers = nil
	return errors.Join(errs...)
}
