package httpapi

import (
	"math"
	"strings"
	"sync"
	"time"
)

// loginLimiter counts failed sign-ins in token buckets per account and per
// client IP, in memory. A bucket holds `limit` tokens and refills `limit`
// tokens per window; each failure takes one; an empty bucket refuses
// attempts until it refills. Full buckets are dropped by a sweep so memory
// stays bounded by the number of recently failing keys.
type loginLimiter struct {
	limits LoginLimits
	now    func() time.Time

	mu        sync.Mutex
	accounts  map[string]*bucket
	ips       map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLoginLimiter(l LoginLimits, now func() time.Time) *loginLimiter {
	return &loginLimiter{limits: l, now: now, accounts: map[string]*bucket{}, ips: map[string]*bucket{}, lastSweep: now()}
}

func (l *loginLimiter) refill(b *bucket, limit int, now time.Time) {
	rate := float64(limit) / l.limits.Window.Seconds()
	b.tokens = math.Min(float64(limit), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
}

// wait returns how long the caller must wait before another attempt for
// account from ip, or 0 when an attempt is allowed now.
func (l *loginLimiter) wait(account, ip string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	check := func(m map[string]*bucket, key string, limit int) {
		b, ok := m[key]
		if !ok {
			return
		}
		l.refill(b, limit, now)
		if b.tokens < 1 {
			rate := float64(limit) / l.limits.Window.Seconds()
			if w := time.Duration((1 - b.tokens) / rate * float64(time.Second)); w > d {
				d = w
			}
		}
	}
	check(l.accounts, normalizeLogin(account), l.limits.PerAccount)
	check(l.ips, ip, l.limits.PerIP)
	return d
}

// fail records a failed attempt.
func (l *loginLimiter) fail(account, ip string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	take := func(m map[string]*bucket, key string, limit int) {
		b, ok := m[key]
		if !ok {
			b = &bucket{tokens: float64(limit), last: now}
			m[key] = b
		}
		l.refill(b, limit, now)
		b.tokens--
	}
	take(l.accounts, normalizeLogin(account), l.limits.PerAccount)
	take(l.ips, ip, l.limits.PerIP)
	l.sweep(now)
}

// succeed forgets the account's failures.
func (l *loginLimiter) succeed(account string) {
	l.mu.Lock()
	delete(l.accounts, normalizeLogin(account))
	l.mu.Unlock()
}

// sweep drops refilled buckets at most once a minute. Caller holds mu.
func (l *loginLimiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for _, m := range []struct {
		m     map[string]*bucket
		limit int
	}{{l.accounts, l.limits.PerAccount}, {l.ips, l.limits.PerIP}} {
		for k, b := range m.m {
			l.refill(b, m.limit, now)
			if b.tokens >= float64(m.limit) {
				delete(m.m, k)
			}
		}
	}
}

func normalizeLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
