// Command paybench measures paybridge: it drives check requests over NATS
// at a fixed rate or concurrency and reports throughput, reply latency,
// provider calls per check, events published, errors and the bridge's
// memory. With --self it brings its own world: an embedded NATS server,
// the paysim simulator and a bridge. --floor and --compare measure the
// work a check cannot avoid (one provider GET and one KV read; with
// --floor-kind raw, the cheapest GET, decode and KV read possible), so that
// the bridge's own cost shows as a ratio. --scale fills the status bucket
// with many settled payments first and measures what a restart of the
// bridge against it costs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/paybridge/paybridge/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if code := cli.ExitCode(err); code != 0 {
		fmt.Fprintln(os.Stderr, "paybench:", err)
		os.Exit(code)
	}
}

// run is paybench: it sets up, runs the phases the flags ask for, and
// prints the result as a table (or JSON) on stdout; progress goes to
// stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	b, err := newBench(ctx, o, stderr)
	if err != nil {
		return err
	}
	res, runErr := b.run(ctx)
	if err := b.close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	if o.json {
		return writeJSON(stdout, res)
	}
	writeTable(stdout, res)
	return nil
}
