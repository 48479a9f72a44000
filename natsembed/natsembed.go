// Package natsembed runs a NATS server with JetStream inside the process:
// for `paybridge serve` without --nats-url, the demo, and every test.
package natsembed

import (
	"errors"
	"fmt"
	"net"
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

// Start runs a server and returns once it accepts connections.
func Start(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("embedded NATS needs a data directory")
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
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded NATS did not become ready within 10s")
	}
	return s, nil
}
