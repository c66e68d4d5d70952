package canary

import (
	"errors"
	"fmt"
)

// ErrInvalid is matched (with errors.Is) by every *FieldError: input that a
// constructor or a validator refused.
var ErrInvalid = errors.New("invalid input")

// FieldError reports one bad input field. Field is a dotted path as the
// caller wrote it, for example "Plan.Steps[2]" or "Split.Canary".
type FieldError struct {
	Field  string // the field, e.g. "Split.Canary"
	Value  any    // the refused value; nil when showing it would leak a secret
	Reason string // why it was refused, e.g. "must be between 0 and 100"
}

func (e *FieldError) Error() string {
	if e.Value == nil {
		return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("invalid %s (%v): %s", e.Field, e.Value, e.Reason)
}

// Is reports whether target is ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// Invalid returns a *FieldError for field with the value and a reason built
// from format and args.
func Invalid(field string, value any, format string, args ...any) error {
	return &FieldError{Field: field, Value: value, Reason: fmt.Sprintf(format, args...)}
}
