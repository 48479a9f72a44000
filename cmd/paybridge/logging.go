package main

import (
	"io"
	"log/slog"
	"os"
	"time"

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
// anything else JSON.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
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
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
	}
	return slog.New(tint.NewHandler(w, &tint.Options{Level: level, TimeFormat: time.TimeOnly, NoColor: !terminal}))
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
