package events_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/paybridge/paybridge/events"
)

// parseHeader reads "Name: value" lines, as NATS carries them.
func parseHeader(s string) nats.Header {
	h := nats.Header{}
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			h.Add(k, strings.TrimLeft(v, " \t"))
		}
	}
	return h
}

// FuzzDecode: whatever arrives, Decode returns an event or an
// ErrInvalidEvent and never panics; and an event it accepts encodes in both
// modes to messages that decode to the same event (re-encoding is stable).
// The seed corpus in testdata/fuzz/FuzzDecode holds valid binary and
// structured messages (ours and sdk-go's style) and broken ones.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		e, err := events.Decode(parseHeader(header), body)
		if err != nil {
			if !errors.Is(err, events.ErrInvalidEvent) {
				t.Fatalf("error %v does not wrap ErrInvalidEvent", err)
			}
			return
		}
		for _, mode := range []events.Mode{events.Binary, events.Structured} {
			m, err := events.Encode("payments.status.changed", e, mode)
			if err != nil {
				t.Fatalf("%v: accepted event does not encode: %v\n%+v", mode, err, e)
			}
			again, err := events.DecodeMsg(m)
			if err != nil {
				t.Fatalf("%v: encoded event does not decode: %v\n%q\n%s", mode, err, m.Header, m.Data)
			}
			m2, err := events.Encode("payments.status.changed", again, mode)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Header, m2.Header) || !bytes.Equal(m.Data, m2.Data) {
				t.Fatalf("%v: re-encoding changed the message:\n%q %s\n%q %s", mode, m.Header, m.Data, m2.Header, m2.Data)
			}
		}
	})
}

// The seed corpus means what its file names say: valid-* decode, broken-*
// do not.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	valid, broken := 0, 0
	for _, entry := range entries {
		b, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s is not a two-value corpus file", entry.Name())
		}
		header, err1 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "string("), ")"))
		body, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "[]byte("), ")"))
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", entry.Name(), err1, err2)
		}
		_, err = events.Decode(parseHeader(header), []byte(body))
		switch {
		case strings.HasPrefix(entry.Name(), "valid-"):
			valid++
			if err != nil {
				t.Errorf("%s: %v", entry.Name(), err)
			}
		case strings.HasPrefix(entry.Name(), "broken-"):
			broken++
			if err == nil {
				t.Errorf("%s decodes", entry.Name())
			}
		}
	}
	if valid < 5 || broken < 5 {
		t.Errorf("corpus has %d valid and %d broken seeds", valid, broken)
	}
}
