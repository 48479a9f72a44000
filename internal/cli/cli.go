// Package cli is what the project's commands (paybridge, paysim, paybench)
// agree on at their edge: a bad command line exits 2, any other failure 1.
package cli

import (
	"errors"
	"flag"
	"fmt"
)

// UsageError marks a bad command line or configuration value.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// IsUsage reports whether err is, or wraps, a UsageError.
func IsUsage(err error) bool { return errors.As(err, new(UsageError)) }

// ExitCode is 0 on success or --help, 2 for a usage error, 1 otherwise.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case IsUsage(err):
		return 2
	}
	return 1
}
