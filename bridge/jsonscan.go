// The bridge's side of the JSON scanner (internal/jsonscan) the request
// decoders walk a request object with (a request sent as a CloudEvent is
// unwrapped by events.ReadEnvelope first). The scanner checks syntax as
// it goes; every problem is an invalid_request error giving the byte
// offset (or the member, for a value of the wrong type), so a broken or
// hostile request is refused without building values. The scanner is the
// strict one: it also refuses lone UTF-16 surrogates, which encoding/json
// silently turns into U+FFFD, and encoding/json cannot report duplicate
// keys; see the package's doc comment for why it is hand-written.

package bridge

import "github.com/paybridge/paybridge/internal/jsonscan"

// requestError turns an error of the scanner into invalid_request with
// the scanner's own words ("not JSON: invalid character 'x' at byte 5");
// any other error is already the bridge's.
func requestError(err error) error {
	if e, ok := err.(*jsonscan.Error); ok {
		return invalidRequest("%s", e.Error())
	}
	return err
}

// startObject checks that the text is an object, naming what it is if not.
func startObject(s *jsonscan.Scanner, what string) error {
	switch kind := s.Kind(); kind {
	case jsonscan.Object:
		return nil
	case jsonscan.None:
		return requestError(s.SyntaxError())
	default:
		return invalidRequest("%s must be a JSON object, got %s", what, kind)
	}
}

// readBool reads the value of a boolean member called name.
func readBool(s *jsonscan.Scanner, name string) (bool, error) {
	if s.Kind() != jsonscan.Bool {
		return false, wrongType(s, name, "a boolean")
	}
	b, err := s.Bool()
	return b, requestError(err)
}

// readStringValue reads the value of a string member called name; syntax
// errors inside the string name the member too.
func readStringValue(s *jsonscan.Scanner, name string) ([]byte, error) {
	if s.Kind() != jsonscan.String {
		return nil, wrongType(s, name, "a string")
	}
	b, err := s.String()
	if err != nil {
		return nil, invalidRequest("%s: %s", name, err.Error())
	}
	return b, nil
}

// wrongType is the error for a member called name whose value is not the
// wanted type, or not a value at all.
func wrongType(s *jsonscan.Scanner, name, want string) error {
	kind := s.Kind()
	if kind == jsonscan.None {
		return requestError(s.SyntaxError())
	}
	return invalidRequest("%s: want %s, got %s", name, want, kind)
}
