package schemas

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// printer renders the validator's messages in English.
var printer = message.NewPrinter(language.English)

// pointerEscaper escapes a JSON pointer token (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// compiled holds every schema, compiled once on first use.
var compiled = sync.OnceValues(compileAll)

func compileAll() (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, name := range Names {
		b, err := FS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		if err := c.AddResource(ID(name), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
	}
	out := make(map[string]*jsonschema.Schema, len(Names))
	for _, name := range Names {
		s, err := c.Compile(ID(name))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// Validate checks the JSON document doc against the schema file name (one of
// Names). A mismatch is a *ValidationError naming each failing location.
// Numbers are kept as json.Number, so an amount sent as a JSON number is
// reported as such rather than silently converted.
func Validate(name string, doc []byte) error {
	all, err := compiled()
	if err != nil {
		return err
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("unknown schema %q (known: %s)", name, strings.Join(Names, ", "))
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("%s: not JSON: %w", name, err)
	}
	if err := s.Validate(v); err != nil {
		if ve, ok := err.(*jsonschema.ValidationError); ok {
			return newValidationError(name, ve)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// ValidationError is a document that does not match its schema.
type ValidationError struct {
	Schema   string    // the schema file name, e.g. check-request.json
	Problems []Problem // at least one, sorted by location
	cause    *jsonschema.ValidationError
}

// Problem is one failing location in a document.
type Problem struct {
	// Location is the JSON pointer of the failing value; "" is the document.
	Location string
	Message  string
}

func (p Problem) String() string {
	loc := p.Location
	if loc == "" {
		loc = "(document)"
	}
	return loc + ": " + p.Message
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return e.Schema + ": " + strings.Join(parts, "; ")
}

// Unwrap gives the validator's full error tree.
func (e *ValidationError) Unwrap() error { return e.cause }

// newValidationError flattens the validator's error tree into its leaves:
// the concrete failures, each at its own location.
func newValidationError(name string, ve *jsonschema.ValidationError) *ValidationError {
	var problems []Problem
	for _, p := range leaves(ve) {
		if !slices.Contains(problems, p) {
			problems = append(problems, p)
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.Location, b.Location) })
	return &ValidationError{Schema: name, Problems: problems, cause: ve}
}

// leaves returns the failures under e. Where no alternative of a oneOf or
// anyOf matched, it keeps only the alternatives that came closest, so that a
// reply with one bad field is not also told that it lacks every field of an
// error reply: first those with the fewest failures of the value's own shape
// (missing or extra properties, wrong type), then the fewest failures.
func leaves(e *jsonschema.ValidationError) []Problem {
	if len(e.Causes) == 0 {
		return []Problem{{Location: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)}}
	}
	_, oneOf := e.ErrorKind.(*kind.OneOf)
	_, anyOf := e.ErrorKind.(*kind.AnyOf)
	if !oneOf && !anyOf {
		var out []Problem
		for _, c := range e.Causes {
			out = append(out, leaves(c)...)
		}
		return out
	}
	here := pointer(e.InstanceLocation)
	distance := func(ps []Problem) [2]int {
		shape := 0
		for _, p := range ps {
			if p.Location == here {
				shape++
			}
		}
		return [2]int{shape, len(ps)}
	}
	var out []Problem
	var best [2]int
	for i, c := range e.Causes {
		ps := leaves(c)
		d := distance(ps)
		switch {
		case i == 0 || d[0] < best[0] || d[0] == best[0] && d[1] < best[1]:
			out, best = ps, d
		case d == best:
			out = append(out, ps...)
		}
	}
	return out
}

// pointer renders a JSON pointer (RFC 6901) from its tokens.
func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		sb.WriteString(pointerEscaper.Replace(t))
	}
	return sb.String()
}
