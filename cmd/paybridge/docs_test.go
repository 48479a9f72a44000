package main

import (
	"flag"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The docs that show the binary's flags. Their tables are checked against
// the flag sets the commands define, so that a flag cannot be added,
// renamed or re-defaulted (a provider added, say) without them.
var flagDocs = []string{"../../README.md", "../../docs/contract.md"}

var backticked = regexp.MustCompile("`([^`]*)`")

// TestServeFlagTables: each doc's serve table (flag, variable, default,
// meaning) has a row for every flag of serve and none other, with its
// variable, `_FILE` where a file may hold it, and its default.
func TestServeFlagTables(t *testing.T) {
	f := commandFlags(t, "serve")
	for _, doc := range flagDocs {
		documented := map[string]bool{}
		for _, row := range markdownTable(t, doc, "| flag | variable | default | meaning |") {
			flags, vars := codeSpans(row[0]), codeSpans(row[1])
			fromFile := slices.Contains(vars, "_FILE")
			vars = slices.DeleteFunc(vars, func(v string) bool { return v == "_FILE" })
			if len(flags) == 0 || len(flags) != len(vars) {
				t.Errorf("%s: row %q: want as many variables as flags", doc, row[0])
				continue
			}
			for i, name := range flags {
				name = strings.TrimPrefix(name, "--")
				fl := f.Lookup(name)
				if fl == nil {
					t.Errorf("%s documents --%s, which serve does not have", doc, name)
					continue
				}
				documented[name] = true
				if vars[i] != envName(name) {
					t.Errorf("%s: --%s is set by %s, not %s", doc, name, envName(name), vars[i])
				}
				if fromFile != slices.Contains(f.fromFile, name) {
					t.Errorf("%s: --%s: the table says _FILE %v, serve %v", doc, name, fromFile, !fromFile)
				}
				checkDocumentedDefault(t, doc, "serve", fl, row[2])
			}
		}
		f.VisitAll(func(fl *flag.Flag) {
			if !documented[fl.Name] {
				t.Errorf("%s: serve's table has no row for --%s", doc, fl.Name)
			}
		})
	}
}

// TestClientFlagTables: each doc's table of the client commands' flags
// (command, flag, default, meaning) has every flag but the NATS ones of
// check, status and events, and none other, with its default.
func TestClientFlagTables(t *testing.T) {
	var clients []string
	for _, c := range subcommands {
		if slices.Equal(c.flags().fromEnvOnly, natsFlagNames) {
			clients = append(clients, c.name)
		}
	}
	for _, doc := range flagDocs {
		documented := map[string]bool{}
		for _, row := range markdownTable(t, doc, "| command | flag | default | meaning |") {
			commands, names := codeSpans(row[0]), codeSpans(row[1])
			if len(names) != 1 {
				t.Errorf("%s: row %q %q: want one flag", doc, row[0], row[1])
				continue
			}
			// One default each, as in "`payments.check` / `payments.status.get`".
			defaults := strings.Split(row[2], " / ")
			if len(defaults) != len(commands) {
				defaults = slices.Repeat([]string{row[2]}, len(commands))
			}
			name := strings.TrimPrefix(names[0], "--")
			for i, command := range commands {
				if !slices.Contains(clients, command) {
					t.Errorf("%s: %q is not a client command (%q)", doc, command, clients)
					continue
				}
				fl := commandFlags(t, command).Lookup(name)
				if fl == nil || slices.Contains(natsFlagNames, name) {
					t.Errorf("%s documents %s --%s, which it does not have (or is a NATS flag)", doc, command, name)
					continue
				}
				documented[command+" --"+name] = true
				checkDocumentedDefault(t, doc, command, fl, defaults[i])
			}
		}
		for _, command := range clients {
			commandFlags(t, command).VisitAll(func(fl *flag.Flag) {
				if !slices.Contains(natsFlagNames, fl.Name) && !documented[command+" --"+fl.Name] {
					t.Errorf("%s: the client commands' table has no row for %s --%s", doc, command, fl.Name)
				}
			})
		}
	}
}

// TestContractListsOfFlags: docs/contract.md names serve's secret flags
// and the demo's flags in prose; both lists are the flag sets'.
func TestContractListsOfFlags(t *testing.T) {
	const doc = "../../docs/contract.md"
	text := string(readFile(t, doc))
	_, secrets, _ := strings.Cut(text, "The secret flags (")
	secrets, _, _ = strings.Cut(secrets, ")")
	if got, want := flagNames(codeSpans(secrets)), slices.Sorted(slices.Values(commandFlags(t, "serve").secrets)); !slices.Equal(got, want) {
		t.Errorf("%s names the secret flags %q, serve's are %q", doc, got, want)
	}
	_, demo, _ := strings.Cut(text, "\n### demo\n")
	demo, _, _ = strings.Cut(demo, "\n#")
	var want []string
	commandFlags(t, "demo").VisitAll(func(fl *flag.Flag) { want = append(want, fl.Name) })
	if got := flagNames(codeSpans(demo)); !slices.Equal(got, want) {
		t.Errorf("%s, demo: names the flags %q, the demo's are %q", doc, got, want)
	}
}

// checkDocumentedDefault: the default column holds the default as code
// (`1024`), or words (off, empty, unlimited) where there is none. A
// default decided at run time, from another variable, is named in the
// flag's usage.
func checkDocumentedDefault(t *testing.T, doc, command string, fl *flag.Flag, cell string) {
	t.Helper()
	documented := ""
	if spans := codeSpans(cell); len(spans) > 0 {
		documented = spans[0]
	}
	if d, ok := fl.Value.(flag.Getter).Get().(time.Duration); ok {
		want, err := time.Duration(0), error(nil)
		if documented != "" {
			want, err = time.ParseDuration(documented)
		}
		if err != nil || want != d {
			t.Errorf("%s: %s --%s defaults to %s, the doc says %q", doc, command, fl.Name, d, cell)
		}
		return
	}
	def := fl.DefValue
	if def == "false" {
		def = ""
	}
	if def == documented || (def == "" && strings.Contains(fl.Usage, documented)) {
		return
	}
	t.Errorf("%s: %s --%s defaults to %q, the doc says %q", doc, command, fl.Name, def, cell)
}

// markdownTable returns the rows of the one table of file with the given
// header row, each split into as many cells as the header has.
func markdownTable(t *testing.T, file, header string) [][]string {
	t.Helper()
	lines := strings.Split(string(readFile(t, file)), "\n")
	width := strings.Count(header, "|") - 1
	var rows [][]string
	tables := 0
	for i, line := range lines {
		if strings.TrimSpace(line) != header {
			continue
		}
		tables++
		for _, row := range lines[i+2:] { // past the |---| line
			if !strings.HasPrefix(row, "|") {
				break
			}
			cells := strings.Split(strings.Trim(strings.TrimSpace(row), "|"), "|")
			if len(cells) != width {
				t.Fatalf("%s: %d cells, want %d: %s", file, len(cells), width, row)
			}
			for j := range cells {
				cells[j] = strings.TrimSpace(cells[j])
			}
			rows = append(rows, cells)
		}
	}
	if tables != 1 {
		t.Fatalf("%s has %d tables headed %s, want one", file, tables, header)
	}
	return rows
}

// codeSpans are the `code` spans of markdown text.
func codeSpans(text string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// flagNames are the distinct --flags among spans, sorted, without "--".
func flagNames(spans []string) []string {
	names := map[string]bool{}
	for _, s := range spans {
		if name, ok := strings.CutPrefix(s, "--"); ok {
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// commandFlags is the flag set of the command called name.
func commandFlags(t *testing.T, name string) *flagSet {
	t.Helper()
	for _, c := range subcommands {
		if c.name == name {
			return c.flags()
		}
	}
	t.Fatalf("no command %q", name)
	return nil
}

// TestMetricTables: every series the binary defines (a Name in the
// bridge's or serve's source) has a row in each doc's table of metrics,
// and each row names a series that is defined, so that a metric cannot be
// added or renamed without the docs.
func TestMetricTables(t *testing.T) {
	defined := map[string]bool{}
	name := regexp.MustCompile(`Name:\s+"(paybridge_[a-z_]+)"`)
	for _, pattern := range []string{"../../bridge/*.go", "*.go"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for _, m := range name.FindAllStringSubmatch(string(readFile(t, f)), -1) {
				defined[m[1]] = true
			}
		}
	}
	if len(defined) < 20 {
		t.Fatalf("found %d metrics in the source; the pattern no longer matches how they are defined", len(defined))
	}
	row := regexp.MustCompile("(?m)^\\| `(paybridge_[a-z_]+)` \\|")
	for _, doc := range flagDocs {
		documented := map[string]bool{}
		for _, m := range row.FindAllStringSubmatch(string(readFile(t, doc)), -1) {
			documented[m[1]] = true
		}
		for _, n := range slices.Sorted(maps.Keys(defined)) {
			if !documented[n] {
				t.Errorf("%s: no row for the metric %s", doc, n)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(documented)) {
			if !defined[n] {
				t.Errorf("%s: a row for %s, which the binary does not define", doc, n)
			}
		}
	}
}
