//go:build unix

package providers

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// idleConnUsable reports whether an idle connection can carry a request:
// the server has not closed it, reset it or written to it since its last
// answer. One non-blocking peek at the socket, as nothing else reads it
// while it waits (http.Transport keeps a goroutine reading each for that).
func idleConnUsable(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the one good answer: a byte is one no request
		// asked for, zero bytes the server's close.
		usable = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && usable
}
