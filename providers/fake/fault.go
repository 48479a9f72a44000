package fake

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// AnyID queues a Fault for the next requests whatever payment they name.
const AnyID = "*"

// Fault replaces the fake's normal answer to the next Times requests of a
// payment: a status, a body, a Retry-After header and/or a delay. A Fault
// with only a Delay slows the normal answer down; one with a Body but no
// Status answers 200 with that body.
type Fault struct {
	Times      int
	Status     int
	RetryAfter string
	Body       []byte
	Delay      time.Duration
}

func (f Fault) validate() error {
	switch {
	case f.Times < 1:
		return fmt.Errorf("fault times must be at least 1, got %d", f.Times)
	case f.Status != 0 && (f.Status < 100 || f.Status > 999):
		return fmt.Errorf("fault status %d is not an HTTP status", f.Status)
	case f.Delay < 0:
		return errors.New("fault delay must not be negative")
	case f.RetryAfter != "" && !f.answers():
		return errors.New("fault retry-after needs a status or body to go with")
	case !f.answers() && f.Delay == 0:
		return errors.New("fault changes nothing: set a status, body or delay")
	}
	return nil
}

// answers reports whether the fault replaces the normal answer rather than
// only delaying it.
func (f Fault) answers() bool { return f.Status != 0 || f.Body != nil }

// TruncatedJSON is a JSON body cut off mid-value, as a dropped connection
// or a broken proxy leaves it.
func TruncatedJSON() []byte {
	return []byte(`{"status": "PENDING", "payment_detail": {"total_price": 8.`)
}

// HTMLPage is the kind of error page a load balancer sends instead of JSON.
func HTMLPage(status int) []byte {
	title := fmt.Sprintf("%d %s", status, http.StatusText(status))
	return []byte("<!DOCTYPE html>\n<html><head><title>" + title + "</title></head>" +
		"<body><center><h1>" + title + "</h1></center><hr><center>nginx</center></body></html>\n")
}

// OversizedJSON is a valid JSON object of limit+1 bytes: given the most a
// client reads (providers.MaxBodyBytes), a client that refuses it does so
// for its size alone.
func OversizedJSON(limit int) []byte {
	const head, tail = `{"padding":"`, `"}`
	n := limit + 1 - len(head) - len(tail)
	return []byte(head + strings.Repeat("x", n) + tail)
}

// contentType guesses what a replaced body is, for its Content-Type header.
func contentType(body []byte) string {
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		return "text/html; charset=utf-8"
	}
	return "application/json"
}
