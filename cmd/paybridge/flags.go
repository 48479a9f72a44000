package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/paybridge/paybridge/internal/cli"
)

// envPrefix begins the environment variable of every flag: --nats-url is
// PAYBRIDGE_NATS_URL. A flag given on the command line wins.
const envPrefix = "PAYBRIDGE_"

// flagSet is one subcommand's flags. A flag may also come from its
// environment variable, and a secret from a file named by <VAR>_FILE, so
// that keys need not sit in a process listing. It remembers where each
// value came from, so an error names the flag or variable to fix.
type flagSet struct {
	*flag.FlagSet
	command string
	usage   string // the line after "Usage: paybridge "
	secrets []string
	// fromFile are the flags whose variable may instead name a file
	// (<VAR>_FILE): every secret, and --nats-url, which may carry a
	// password in its user information.
	fromFile []string
	// fromEnvOnly, when not nil, names the only flags read from the
	// environment: a client's --subject must not follow a variable set
	// for another command.
	fromEnvOnly []string
	origin      map[string]string // flag name → "--name", "PAYBRIDGE_NAME" or "PAYBRIDGE_NAME_FILE"
}

func newFlagSet(command, usage string) *flagSet {
	fs := flag.NewFlagSet(command, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, usage is printed on --help only
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, command: command, usage: usage, origin: map[string]string{}}
}

// envName is the variable that can set the flag called name.
func envName(name string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// secretVar defines a string flag holding a secret: it may also be read
// from the file named by PAYBRIDGE_<FLAG>_FILE, and its value is never
// printed, not even as a default.
func (f *flagSet) secretVar(p *string, name, usage string) {
	f.StringVar(p, name, "", usage)
	f.secrets = append(f.secrets, name)
	f.fromFile = append(f.fromFile, name)
}

// readableFromFile lets the flag called name also be read from the file
// named by PAYBRIDGE_<FLAG>_FILE, so that a value holding a credential can
// come from a mounted secret rather than the environment.
func (f *flagSet) readableFromFile(name string) { f.fromFile = append(f.fromFile, name) }

func (f *flagSet) isSecret(name string) bool { return slices.Contains(f.secrets, name) }

// readsEnv reports whether the flag called name can be set by its variable.
func (f *flagSet) readsEnv(name string) bool {
	return f.fromEnvOnly == nil || slices.Contains(f.fromEnvOnly, name)
}

// parse reads the command line, then the environment for flags not given
// there, and returns the positional arguments. Flags and arguments may be
// mixed; everything after "--" is an argument.
func (f *flagSet) parse(args []string, lookupEnv func(string) (string, bool)) ([]string, error) {
	var positional []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, cli.Usagef("%v (see paybridge %s --help)", err, f.command)
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	f.Visit(func(fl *flag.Flag) { f.origin[fl.Name] = "--" + fl.Name })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		if err == nil && f.origin[fl.Name] == "" && f.readsEnv(fl.Name) {
			err = f.fromEnv(fl.Name, lookupEnv)
		}
	})
	return positional, err
}

// fromEnv sets the flag called name from its variable, or for a secret
// from the file its _FILE variable names.
func (f *flagSet) fromEnv(name string, lookupEnv func(string) (string, bool)) error {
	env := envName(name)
	value, set := lookupEnv(env)
	if slices.Contains(f.fromFile, name) {
		path, fromFile := lookupEnv(env + "_FILE")
		switch {
		case set && fromFile:
			return cli.Usagef("%s and %s_FILE are both set; use one", env, env)
		case fromFile:
			b, err := os.ReadFile(path)
			if err != nil {
				return cli.Usagef("%s_FILE: %v", env, err)
			}
			value, set, env = strings.TrimRight(string(b), "\r\n"), true, env+"_FILE"
			// An empty file is a mount or a write that went wrong, not a
			// way to leave the flag unset: that would silently turn a
			// provider, the webhook token or the NATS URL off.
			if value == "" {
				return cli.Usagef("%s: the file %q is empty", env, path)
			}
		}
	}
	if !set {
		return nil
	}
	f.origin[name] = env
	if err := f.Set(name, value); err != nil {
		if f.isSecret(name) {
			return cli.Usagef("%s: %v", env, err)
		}
		return cli.Usagef("%s %q: %v", env, value, err)
	}
	return nil
}

// bad reports a bad value of the flag called name, naming where it came
// from. A secret's value is never repeated.
func (f *flagSet) bad(name, reason string) error {
	where := f.where(name)
	if f.isSecret(name) {
		return cli.Usagef("%s: %s", where, reason)
	}
	return cli.Usagef("%s %q: %s", where, f.value(name), reason)
}

// value is the value of the flag called name, as text.
func (f *flagSet) value(name string) string { return f.Lookup(name).Value.String() }

// where names the flag or variable the value of the flag called name came from.
func (f *flagSet) where(name string) string {
	if w := f.origin[name]; w != "" {
		return w
	}
	return "--" + name
}

// printUsage writes the subcommand's synopsis and flags with their
// defaults and variables.
func (f *flagSet) printUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: paybridge %s\n\nFlags", f.usage)
	if f.fromEnvOnly == nil || len(f.fromEnvOnly) > 0 {
		fmt.Fprint(w, " (a variable shown in brackets also sets its flag; a flag given wins)")
	}
	fmt.Fprintln(w, ":")
	f.VisitAll(func(fl *flag.Flag) {
		kind, usage := flag.UnquoteUsage(fl)
		if kind != "" {
			kind = " " + kind
		}
		fmt.Fprintf(w, "  --%s%s\n    \t%s", fl.Name, kind, usage)
		if fl.DefValue != "" && fl.DefValue != "false" && !f.isSecret(fl.Name) {
			fmt.Fprintf(w, " (default %s)", fl.DefValue)
		}
		fmt.Fprintln(w)
		if !f.readsEnv(fl.Name) {
			return
		}
		env := envName(fl.Name)
		if slices.Contains(f.fromFile, fl.Name) {
			env += " or " + env + "_FILE"
		}
		fmt.Fprintf(w, "    \t[%s]\n", env)
	})
}

// parseOrHelp parses args and prints the usage when --help was asked.
func (f *flagSet) parseOrHelp(args []string, lookupEnv func(string) (string, bool), stdout io.Writer) ([]string, error) {
	pos, err := f.parse(args, lookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(stdout)
	}
	return pos, err
}
