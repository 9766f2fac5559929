package domain

import (
	"errors"
	"fmt"
)

// Kind classifies an Error. The HTTP layer maps each kind to one status code
// in a single table; nothing else inspects error strings.
type Kind uint8

// Error kinds.
const (
	KindInternal        Kind = iota // unexpected failure; details never reach clients
	KindInvalid                     // the input is malformed or violates a rule (422)
	KindNotFound                    // the addressed thing does not exist (404)
	KindConflict                    // the state changed or is incompatible (409)
	KindForbidden                   // the actor's role or ownership forbids it (403)
	KindUnauthenticated             // no or bad credentials (401)
	KindPrecondition                // a required precondition (If-Match) is missing (428)
	KindTooLarge                    // a payload exceeds a configured limit (413)
	KindRateLimited                 // too many attempts (429)
	KindUnavailable                 // a dependency is closed or not ready (503)
)

var kindNames = [...]string{"internal", "invalid", "not_found", "conflict", "forbidden", "unauthenticated", "precondition_required", "too_large", "rate_limited", "unavailable"}

// String returns the kind's stable lower-case name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is the one error type of Palimpsest. Code is a stable, machine-readable
// identifier such as "post_not_found" or "version_conflict"; Message is safe to
// show to the caller; Fields holds per-field validation messages.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string][]string
	// Detail carries structured context for the caller (e.g. the current
	// version on a conflict). It must never contain secrets.
	Detail map[string]any
	// Err is an optional underlying cause. It is never shown to clients.
	Err error
}

// Error implements the error interface.
func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Kind and Code (a
// target with an empty Code matches any code of the kind).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Kind == e.Kind && (t.Code == "" || t.Code == e.Code)
}

// Errorf returns a new *Error of kind with a stable code and a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns a new *Error of kind with a stable code wrapping cause.
func Wrap(cause error, kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message, Err: cause}
}

// Invalid returns a KindInvalid error with per-field messages.
func Invalid(code, message string, fields map[string][]string) *Error {
	return &Error{Kind: KindInvalid, Code: code, Message: message, Fields: fields}
}

// KindOf returns the Kind of the first *Error in err's chain, or KindInternal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// CodeOf returns the Code of the first *Error in err's chain, or "internal".
func CodeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "internal"
}

// FieldErrors collects per-field validation messages.
type FieldErrors map[string][]string

// Add records msg for field.
func (f FieldErrors) Add(field, msg string) { f[field] = append(f[field], msg) }

// Err returns nil when no field failed, otherwise a KindInvalid error.
func (f FieldErrors) Err(code string) error {
	if len(f) == 0 {
		return nil
	}
	return Invalid(code, "some fields are invalid", map[string][]string(f))
}
