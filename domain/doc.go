// Package domain holds Palimpsest's aggregates (Post, User), their events,
// roles and the one error type every layer maps to HTTP. It depends on the
// standard library only: no storage, transport or framework types leak in.
package domain
