package main

import (
	"os/signal"

	"github.com/paybridge/paybridge/cmd/paybridge/internal/stopsignal"
)

// The test binary, which never asks stopsignal for its context, stops on
// Ctrl-C and SIGTERM as usual instead of keeping them for a main that
// does not run.
func init() { signal.Reset(stopsignal.Signals()...) }
