// Package natsembed runs a NATS server with JetStream inside the process:
// for `paybridge serve` without --nats-url, the demo, and every test.
package natsembed

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config says where the server listens and keeps its data.
type Config struct {
	// Host and Port to listen on; Port -1 picks a free one.
	Host string
	Port int
	// StoreDir holds JetStream's data; it survives restarts.
	StoreDir string
	// ServerName names the server (and so its JetStream node); default "paybridge".
	ServerName string
	// MaxPayload is the largest message the server accepts; 0 keeps its
	// default (1 MiB). Tests lower it to see what a full message does.
	MaxPayload int32
}

// ParseListen splits "host:port" for Config; port "-1" means any free port.
func ParseListen(listen string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("listen address %q: bad port %q", listen, p)
	}
	return h, port, nil
}

// CheckStoreDir creates dir when it is missing and makes sure the server
// can write its JetStream store there: nats-server reports a store it
// cannot write only by never becoming ready, which looks like a port
// problem. The error names the directory and why (permission denied, not
// a directory, a read-only file system).
func CheckStoreDir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cannot create the data directory %q: %w", dir, err)
	}
	// JetStream keeps everything in a subdirectory, which may be what a
	// restore or another user left unwritable.
	for _, d := range []string{dir, filepath.Join(dir, server.JetStreamStoreDir)} {
		if d != dir {
			if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		probe, err := os.CreateTemp(d, ".write-check-")
		if err != nil {
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				err = pathErr.Err // the probe's name says nothing
			}
			return fmt.Errorf("cannot write in %q: %w", d, err)
		}
		probe.Close()
		os.Remove(probe.Name())
	}
	return nil
}

// readyTimeout bounds the wait for a server to accept connections.
const readyTimeout = 10 * time.Second

// Start runs a server and returns once it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded NATS needs a data directory")
	}
	if err := CheckStoreDir(cfg.StoreDir); err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "paybridge"
	}
	if cfg.Port > 0 {
		// The server reports a port it cannot bind only by never becoming
		// ready; trying it first gives the real reason at once.
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
		if err != nil {
			return nil, fmt.Errorf("embedded NATS: %w", err)
		}
		ln.Close()
	}
	opts := &server.Options{
		ServerName: cfg.ServerName,
		Host:       cfg.Host,
		Port:       cfg.Port,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
	}
	return run(opts)
}

// run starts a server with opts and waits until it accepts connections,
// or says why it never will.
func run(opts *server.Options) (*server.Server, error) {
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	fatal := &fatalLogger{errs: make(chan error, 1)}
	s.SetLogger(fatal, false, false)
	go s.Start()
	deadline := time.Now().Add(readyTimeout)
	for !s.ReadyForConnections(50 * time.Millisecond) {
		select {
		case err := <-fatal.errs:
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS: %w", err)
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS did not become ready within %s", readyTimeout)
		}
	}
	return s, nil
}

// fatalLogger keeps the first fatal error the server logs and drops the
// rest of its log: a server that cannot start says why only there, and
// then never becomes ready.
type fatalLogger struct{ errs chan error }

func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.errs <- fmt.Errorf(format, v...):
	default:
	}
}

func (*fatalLogger) Noticef(string, ...any) {}
func (*fatalLogger) Warnf(string, ...any)   {}
func (*fatalLogger) Errorf(string, ...any)  {}
func (*fatalLogger) Debugf(string, ...any)  {}
func (*fatalLogger) Tracef(string, ...any)  {}
