package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

// hostileID is a payment id that would rewrite a terminal if printed raw:
// a forged line, a colour, a right-to-left override, and a literal \x1b
// that tint's colouring would turn into an ESC.
const hostileID = "pay\r\nINFO forged\x1b[31m\u202elave\\x1b[2J\xff"

// logHostile logs the id as a message, a key, a value and in an error.
func logHostile(l *slog.Logger) {
	l.Info("checking "+hostileID, "payment_id", hostileID, hostileID, "as a key",
		"error", fmt.Errorf("provider: no payment %s", hostileID))
}

// TestTextLogsEscapeIDs: with --log-format text, control characters, bidi
// overrides and invalid UTF-8 in an id are written as escapes, never raw,
// in the message, keys and values, with and without colour.
func TestTextLogsEscapeIDs(t *testing.T) {
	for _, colour := range []bool{false, true} {
		t.Run(fmt.Sprintf("colour=%v", colour), func(t *testing.T) {
			var out bytes.Buffer
			if colour {
				logHostile(textLogger(&out, slog.LevelInfo, true, &secretSet{}))
			} else {
				logHostile((&logFlags{format: "text", level: "info"}).logger(&out, &secretSet{}))
			}
			line := strings.TrimSuffix(out.String(), "\n")
			for _, raw := range []string{"\r", "\n", "\x1b[31m", "\x1b[2J", "\u202e", "\xff"} {
				if strings.Contains(line, raw) {
					t.Errorf("the log holds %q raw:\n%q", raw, line)
				}
			}
			if !colour && strings.Contains(line, "\x1b") {
				t.Errorf("an ESC without colour:\n%q", line)
			}
			// The message shows the escaped id; tint Go-quotes a value or
			// key that has spaces, so there the escapes' backslashes double.
			escaped := `pay\r\nINFO forged\u001b[31m\u202elave\x5cx1b[2J\xff`
			quoted := strings.Trim(strconv.Quote(escaped), `"`)
			if !strings.Contains(line, "checking "+escaped+" ") || strings.Count(line, quoted) != 3 {
				t.Errorf("want the id as %s in the message and as %s in the value, the key and the error:\n%s", escaped, quoted, line)
			}
		})
	}
}

// TestJSONLogsEscapeIDs: slog's JSON handler escapes control characters
// itself; the id comes back intact from every field.
func TestJSONLogsEscapeIDs(t *testing.T) {
	var out bytes.Buffer
	logHostile((&logFlags{format: "json", level: "info"}).logger(&out, &secretSet{}))
	line := strings.TrimSuffix(out.String(), "\n")
	for _, raw := range []string{"\r", "\n", "\x1b"} {
		if strings.Contains(line, raw) {
			t.Errorf("the log holds %q raw:\n%q", raw, line)
		}
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Fatalf("not one JSON object: %v\n%q", err, line)
	}
	// JSON carries text as UTF-8: the invalid byte becomes U+FFFD.
	id := strings.ToValidUTF8(hostileID, "\ufffd")
	if fields["msg"] != "checking "+id || fields["payment_id"] != id || fields[id] != "as a key" ||
		fields["error"] != "provider: no payment "+id {
		t.Errorf("the id did not come back intact:\n%q", line)
	}
}
