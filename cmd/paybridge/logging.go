package main

import (
	"context"
	"encoding"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/lmittmann/tint"
)

// logFlags choose the log format and level of serve and demo.
type logFlags struct {
	format string // "", text or json
	level  string
}

func (l *logFlags) register(f *flagSet, defaultLevel string) {
	f.StringVar(&l.format, "log-format", "", "text or json (default: text with colour on a terminal, JSON otherwise)")
	f.StringVar(&l.level, "log-level", defaultLevel, "debug, info, warn or error")
}

func (l *logFlags) validate(f *flagSet) error {
	if l.format != "" && l.format != "text" && l.format != "json" {
		return f.bad("log-format", "want text or json")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return f.bad("log-level", "want debug, info, warn or error")
	}
	return nil
}

// logger writes to w: JSON for machines, tint's text for people (coloured
// when w is a terminal). Without --log-format a terminal gets text and
// anything else JSON. Secrets are blanked in both.
func (l *logFlags) logger(w io.Writer, secrets *secretSet) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.level)) // checked by validate
	terminal := isTerminal(w)
	format := l.format
	if format == "" {
		format = "json"
		if terminal {
			format = "text"
		}
	}
	if format == "json" {
		// The JSON handler escapes control characters itself.
		return slog.New(traceHandler{cleanHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), secrets.redact}})
	}
	return textLogger(w, level, terminal, secrets)
}

// textLogger is tint's handler with secrets blanked and text escaped.
func textLogger(w io.Writer, level slog.Level, colour bool, secrets *secretSet) *slog.Logger {
	tinted := tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !colour})
	return slog.New(traceHandler{cleanHandler{tinted, func(s string) string { return escapeForTerminal(secrets.redact(s)) }}})
}

// cleanHandler hands every record on with clean applied to its message,
// keys and text values, errors and other values included as the next
// handler would print them: so that no library's error text can carry a
// secret, or a payment id a terminal control sequence, into a log.
type cleanHandler struct {
	next  slog.Handler
	clean func(string) string
}

func (h cleanHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h cleanHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.clean(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h cleanHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	cleaned := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		cleaned[i] = h.attr(a)
	}
	return cleanHandler{h.next.WithAttrs(cleaned), h.clean}
}

func (h cleanHandler) WithGroup(name string) slog.Handler {
	return cleanHandler{h.next.WithGroup(h.clean(name)), h.clean}
}

func (h cleanHandler) attr(a slog.Attr) slog.Attr {
	key, v := h.clean(a.Key), a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, h.clean(v.String()))
	case slog.KindGroup:
		group := v.Group()
		cleaned := make([]slog.Attr, len(group))
		for i, g := range group {
			cleaned[i] = h.attr(g)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(cleaned...)}
	case slog.KindAny:
		if text, ok := shownAs(v.Any()); ok {
			if cleaned := h.clean(text); cleaned != text {
				return slog.String(key, cleaned)
			}
		}
	}
	return slog.Attr{Key: key, Value: v}
}

// shownAs is the text a handler prints for v: an error's message, a
// TextMarshaler's text, else fmt's %+v, as tint does. ok is false when
// v cannot be shown (a nil pointer behind an interface, say): the next
// handler then deals with it as it would have.
func shownAs(v any) (text string, ok bool) {
	defer func() {
		if recover() != nil {
			text, ok = "", false
		}
	}()
	switch v := v.(type) {
	case error:
		return v.Error(), true
	case encoding.TextMarshaler:
		b, err := v.MarshalText()
		return string(b), err == nil
	case []byte:
		return string(v), true
	}
	return fmt.Sprintf("%+v", v), true
}

// escapeForTerminal writes every character a terminal would act on or
// display out of order (CR, LF, ESC, bidi overrides such as U+202E,
// invalid UTF-8) as an escape: \r \n \t, \u001b, \u202e, \xff. A
// backslash is written \x5c, so the escaping cannot be forged and no text
// contains "\x1b", which tint turns back into a raw ESC when it colours a
// quoted value.
func escapeForTerminal(s string) string {
	var b strings.Builder
	copied := 0 // s[:copied] is in b, escapes included
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if esc := terminalEscape(r, size, s[i]); esc != "" {
			b.WriteString(s[copied:i])
			b.WriteString(esc)
			copied = i + size
		}
		i += size
	}
	if copied == 0 {
		return s // nothing to escape
	}
	b.WriteString(s[copied:])
	return b.String()
}

// terminalEscape is the escape of the rune r, size bytes long, whose
// first byte is first; "" when r is shown as it is.
func terminalEscape(r rune, size int, first byte) string {
	switch {
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf(`\x%02x`, first)
	case r == '\\':
		return `\x5c`
	case r == '\r':
		return `\r`
	case r == '\n':
		return `\n`
	case r == '\t':
		return `\t`
	case unicode.IsPrint(r):
		return ""
	case r > 0xffff:
		return fmt.Sprintf(`\U%08x`, r)
	}
	return fmt.Sprintf(`\u%04x`, r)
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
