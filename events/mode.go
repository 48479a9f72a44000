package events

import "fmt"

// Mode is the CloudEvents content mode used on the wire.
type Mode int

const (
	// Binary puts the attributes in ce- headers and the data in the body.
	Binary Mode = iota
	// Structured puts the whole event, in the JSON event format, in the body.
	Structured
)

// ParseMode returns the Mode named "binary" or "structured".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "binary":
		return Binary, nil
	case "structured":
		return Structured, nil
	}
	return 0, fmt.Errorf("unknown event mode %q (want binary or structured)", s)
}

// String is the mode's name, as ParseMode reads it.
func (m Mode) String() string {
	switch m {
	case Binary:
		return "binary"
	case Structured:
		return "structured"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MarshalText and UnmarshalText let a Mode be a flag (flag.TextVar) or a
// configuration value.
func (m Mode) MarshalText() ([]byte, error) {
	if m != Binary && m != Structured {
		return nil, fmt.Errorf("unknown event mode %d", int(m))
	}
	return []byte(m.String()), nil
}

// UnmarshalText parses the text with ParseMode.
func (m *Mode) UnmarshalText(text []byte) error {
	v, err := ParseMode(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}
