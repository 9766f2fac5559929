// Package ratelimit bounds the expensive, guessable requests of sign-in and
// sign-up: failed sign-ins per account and per client IP, failed checks of a
// signed-in user's current password (changing it) per user and per client
// IP, and registrations per client IP. One Limiter per process is shared by
// the JSON API and the web UI, so an attacker alternating between them gets
// no extra attempts.
//
// Sign-ins are counted by the login name given, not by the account it
// resolves to: a username and its email address have a budget each. Counting
// them as one would let the lock-out itself answer "does this email belong to
// that username?" (exhaust the username's budget, then try emails: the one
// refused with 429 is the account's), which would leak private addresses.
//
// Limits are token buckets kept in memory: with N nodes behind a load
// balancer an attacker gets at most N times the budget. Every attempt
// reserves its token before the password hash runs, so concurrent requests
// cannot overrun a bucket; attempts that turn out not to count (a successful
// sign-in, a registration refused by validation before hashing) give their
// token back.
package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits configures a Limiter. Zero fields take their defaults.
type Limits struct {
	// PerAccount failed sign-ins allowed per Window for one login name
	// (default 10).
	PerAccount int
	// PerIP failed sign-ins allowed per Window from one client IP
	// (default 50).
	PerIP int
	// Window is the refill period of the sign-in buckets (default 15 minutes).
	Window time.Duration
	// RegistrationsPerIP is the number of registrations allowed per
	// RegistrationWindow from one client IP (default 10).
	RegistrationsPerIP int
	// RegistrationWindow is the refill period of the registration buckets
	// (default 1 hour).
	RegistrationWindow time.Duration
}

// Validate fills the defaults and reports negative limits.
func (l *Limits) Validate() error {
	if l.PerAccount == 0 {
		l.PerAccount = 10
	}
	if l.PerIP == 0 {
		l.PerIP = 50
	}
	if l.Window == 0 {
		l.Window = 15 * time.Minute
	}
	if l.RegistrationsPerIP == 0 {
		l.RegistrationsPerIP = 10
	}
	if l.RegistrationWindow == 0 {
		l.RegistrationWindow = time.Hour
	}
	if l.PerAccount < 0 || l.PerIP < 0 || l.Window < 0 || l.RegistrationsPerIP < 0 || l.RegistrationWindow < 0 {
		return errors.New("rate limits: limits and windows must be positive")
	}
	return nil
}

// Limiter counts sign-in failures and registrations. It is safe for
// concurrent use.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu        sync.Mutex
	accounts  buckets // failed sign-ins, by login name
	passwords buckets // failed current-password checks, by user ID
	ips       buckets // both, by client IP
	regs      buckets
	lastSweep time.Time
}

// New returns a Limiter for limits (defaults filled by Limits.Validate).
// now is the clock; nil means time.Now.
func New(limits Limits, now func() time.Time) (*Limiter, error) {
	if err := limits.Validate(); err != nil {
		return nil, fmt.Errorf("new rate limiter: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		limits:    limits,
		now:       now,
		accounts:  newBuckets(limits.PerAccount, limits.Window),
		passwords: newBuckets(limits.PerAccount, limits.Window),
		ips:       newBuckets(limits.PerIP, limits.Window),
		regs:      newBuckets(limits.RegistrationsPerIP, limits.RegistrationWindow),
		lastSweep: now(),
	}, nil
}

// Limits returns the limits in force (defaults filled).
func (l *Limiter) Limits() Limits { return l.limits }

// AllowLogin reports whether a sign-in as account from ip may be attempted
// now. When it may, one attempt is reserved from the account's and the IP's
// budgets: follow up with LoginSucceeded, LoginFailed or LoginAborted. When
// it may not, retryAfter is how long until one may, and nothing is reserved.
func (l *Limiter) AllowLogin(account, ip string) (ok bool, retryAfter time.Duration) {
	return l.allow(&l.accounts, NormalizeAccount(account), ip)
}

// LoginFailed records that the attempt reserved by AllowLogin presented
// wrong credentials: its reservation stays spent.
func (l *Limiter) LoginFailed(account, ip string) {}

// LoginSucceeded records a successful sign-in: the account's failures are
// forgotten and the attempt goes back to the IP's budget.
func (l *Limiter) LoginSucceeded(account, ip string) {
	l.succeeded(&l.accounts, NormalizeAccount(account), ip)
}

// LoginAborted returns the attempt reserved by AllowLogin to both budgets:
// the credentials were never checked (a malformed request, an internal
// error).
func (l *Limiter) LoginAborted(account, ip string) {
	l.aborted(&l.accounts, NormalizeAccount(account), ip)
}

// AllowPasswordCheck is AllowLogin for a signed-in user's check of their
// current password (changing it), so a stolen session cannot be used to
// guess the password at will. The user has a budget of its own, as large as
// a login name's; the IP's budget is the one sign-ins spend. Follow up with
// PasswordCheckPassed, PasswordCheckFailed or PasswordCheckAborted.
func (l *Limiter) AllowPasswordCheck(userID, ip string) (ok bool, retryAfter time.Duration) {
	return l.allow(&l.passwords, userID, ip)
}

// PasswordCheckFailed records that the current password given was wrong:
// the reservation stays spent.
func (l *Limiter) PasswordCheckFailed(userID, ip string) {}

// PasswordCheckPassed records a right current password, as LoginSucceeded.
func (l *Limiter) PasswordCheckPassed(userID, ip string) { l.succeeded(&l.passwords, userID, ip) }

// PasswordCheckAborted returns the reservation, as LoginAborted: the
// password was never checked (e.g. the new one was refused first).
func (l *Limiter) PasswordCheckAborted(userID, ip string) { l.aborted(&l.passwords, userID, ip) }

// allow reserves a guess from key's budget in accts and from ip's.
func (l *Limiter) allow(accts *buckets, key, ip string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if d := max(accts.wait(key, now), l.ips.wait(ip, now)); d > 0 {
		return false, d
	}
	accts.take(key, now)
	l.ips.take(ip, now)
	return true, 0
}

// succeeded forgets key's failures and refunds ip's reservation.
func (l *Limiter) succeeded(accts *buckets, key, ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	accts.forget(key)
	l.ips.give(ip, now)
}

// aborted refunds both reservations.
func (l *Limiter) aborted(accts *buckets, key, ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	accts.give(key, now)
	l.ips.give(ip, now)
}

// AllowRegistration reports whether a registration from ip may be attempted
// now and, when it may, reserves it. When it may not, retryAfter is how
// long until one may.
func (l *Limiter) AllowRegistration(ip string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	if d := l.regs.wait(ip, now); d > 0 {
		return false, d
	}
	l.regs.take(ip, now)
	return true, 0
}

// RegistrationAborted returns a reservation of AllowRegistration: the
// registration was refused before any password was hashed or any event
// appended (invalid input).
func (l *Limiter) RegistrationAborted(ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.regs.give(ip, now)
}

// sweep drops refilled buckets at most once a minute, so memory stays
// bounded by the number of recently active keys. Caller holds mu.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	l.accounts.sweep(now)
	l.passwords.sweep(now)
	l.ips.sweep(now)
	l.regs.sweep(now)
}

// NormalizeAccount is the bucket key of a login name: trimmed and lower case.
func NormalizeAccount(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// RetryAfter formats d as the value of a Retry-After header: whole seconds,
// rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

// buckets are token buckets of one kind, by key. A bucket holds limit
// tokens and refills limit tokens per window; absent keys are full.
type buckets struct {
	limit int
	rate  float64 // tokens per second
	m     map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(limit int, window time.Duration) buckets {
	return buckets{limit: limit, rate: float64(limit) / window.Seconds(), m: map[string]*bucket{}}
}

func (bs *buckets) refill(b *bucket, now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(float64(bs.limit), b.tokens+now.Sub(b.last).Seconds()*bs.rate)
		b.last = now
	}
}

// wait returns how long until key has a whole token, 0 when it has one.
func (bs *buckets) wait(key string, now time.Time) time.Duration {
	b, ok := bs.m[key]
	if !ok {
		return 0
	}
	bs.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / bs.rate * float64(time.Second)))
}

func (bs *buckets) take(key string, now time.Time) {
	b, ok := bs.m[key]
	if !ok {
		b = &bucket{tokens: float64(bs.limit), last: now}
		bs.m[key] = b
	}
	bs.refill(b, now)
	b.tokens--
}

func (bs *buckets) give(key string, now time.Time) {
	b, ok := bs.m[key]
	if !ok {
		return
	}
	bs.refill(b, now)
	b.tokens = math.Min(float64(bs.limit), b.tokens+1)
}

func (bs *buckets) forget(key string) { delete(bs.m, key) }

func (bs *buckets) sweep(now time.Time) {
	for k, b := range bs.m {
		bs.refill(b, now)
		if b.tokens >= float64(bs.limit) {
			delete(bs.m, k)
		}
	}
}
