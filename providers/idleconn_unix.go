//go:build unix

package providers

import (
	"crypto/tls"
	"net"
	"syscall"
)

// idleProbe returns a look at c for when it waits idle: true while the
// server has not closed it, reset it or written to it since its last
// answer. Nothing else reads an idle connection (http.Transport keeps a
// goroutine reading each for that): one non-blocking peek at the socket,
// with the closures made once per connection rather than per look.
func idleProbe(c net.Conn) func() bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return func() bool { return true }
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() bool { return true }
	}
	var usable bool
	peek := func(fd uintptr) {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read is the one good answer: a byte is one no
		// request asked for, zero bytes the server's close.
		usable = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	}
	return func() bool {
		usable = false
		return raw.Control(peek) == nil && usable
	}
}
