//go:build !unix

package providers

import "net"

// idleConnUsable cannot look at an idle connection without a peek at its
// socket: on these systems a connection the server closed is found when a
// request is sent on it (and sent again on a new one).
func idleConnUsable(net.Conn) bool { return true }
