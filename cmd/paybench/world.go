package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/paybridge/paybridge/cmd/paysim/sim"
	"github.com/paybridge/paybridge/natsembed"
)

// selfCredentials are what the --self world's paysim accepts and its
// bridge sends: each provider's required credentials, made up.
var selfCredentials = sim.MadeUpCredentials("paybench-")

// world is what --self runs: an embedded NATS server on a temporary
// store, paysim on a random loopback port, and a bridge.
type world struct {
	dir string
	ns  *natsserver.Server // in process; nil with --nats subprocess
	// natsProc is nats-server as a child process (--nats subprocess).
	natsProc *natsProcess
	natsURL  string
	sim      *sim.Sim
	simURL   string
	meter    *providerMeter
	stopSim  context.CancelFunc
	simDone  chan error
	bridge   runningBridge
	// bridgeBin is the paybridge built for this world, once built.
	bridgeBin string
}

// runningBridge is a bridge paybench started, in a subprocess or in
// process.
type runningBridge interface {
	// describe says what runs and whose memory is measured.
	describe() string
	// pid is the process whose RSS is the bridge's.
	pid() int
	// metricsURL is its /metrics, "" when it has none of its own.
	metricsURL() string
	// profile writes a CPU profile of the next d to w.
	profile(ctx context.Context, d time.Duration, w io.Writer) error
	stop(ctx context.Context) error
}

func startWorld(ctx context.Context, o options, log io.Writer) (*world, error) {
	w := &world{}
	var err error
	if w.dir, err = os.MkdirTemp("", "paybench-"); err != nil {
		return nil, err
	}
	if err := w.start(ctx, o, log); err != nil {
		return nil, errors.Join(err, w.close())
	}
	return w, nil
}

func (w *world) start(ctx context.Context, o options, log io.Writer) error {
	var err error
	if o.natsMode == "subprocess" {
		if w.natsProc, err = startNATSProcess(ctx, o, w.dir, log); err != nil {
			return err
		}
		w.natsURL = w.natsProc.url
	} else {
		w.ns, err = natsembed.Start(natsembed.Config{Host: "127.0.0.1", Port: -1, StoreDir: w.dir})
		if err != nil {
			return err
		}
		w.natsURL = w.ns.ClientURL()
	}
	w.sim, err = sim.New(sim.Config{
		Credentials: selfCredentials,
		LatencyMin:  o.providerLatency,
		LatencyMax:  o.providerLatency,
		Seed:        1,
	})
	if err != nil {
		return err
	}
	if err := w.serveSim(); err != nil {
		return err
	}
	fmt.Fprintf(log, "paybench: NATS %s, paysim %s\n", w.natsURL, w.simURL)
	// Assigned only on success: a nil *subprocess in w.bridge would not
	// be nil, and close would stop it.
	if o.bridgeMode == "subprocess" {
		s, err := startSubprocess(ctx, o, w, log)
		switch {
		case err == nil:
			w.bridge = s
			return nil
		case errors.Is(err, errNoBinary) && o.scale == 0: // --scale restarts the subprocess
			fmt.Fprintf(log, "paybench: %v; running the bridge in process instead\n", err)
		default:
			return err
		}
	}
	p, err := startInProcess(ctx, o, w)
	if err != nil {
		return err
	}
	w.bridge = p
	return nil
}

// serveSim serves paysim behind the meter on a random loopback port.
func (w *world) serveSim() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("paysim listener: %w", err)
	}
	w.meter = &providerMeter{next: w.sim.Handler()}
	w.simURL = "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	w.stopSim, w.simDone = cancel, make(chan error, 1)
	go func() { w.simDone <- sim.ServeHandler(ctx, ln, w.meter) }()
	return nil
}

// stopBridge stops the running bridge; the world goes on without one.
func (w *world) stopBridge(ctx context.Context) error {
	b := w.bridge
	w.bridge = nil
	return b.stop(ctx)
}

// close stops the bridge, paysim and NATS, and removes the store.
func (w *world) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	if w.bridge != nil {
		errs = append(errs, w.bridge.stop(ctx))
	}
	if w.stopSim != nil {
		w.stopSim()
		errs = append(errs, <-w.simDone)
	}
	if w.ns != nil {
		w.ns.Shutdown()
		w.ns.WaitForShutdown()
	}
	if w.natsProc != nil {
		errs = append(errs, w.natsProc.stop(ctx))
	}
	errs = append(errs, os.RemoveAll(w.dir))
	return errors.Join(errs...)
}
