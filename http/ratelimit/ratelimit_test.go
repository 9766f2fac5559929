package ratelimit

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestLimiter(t *testing.T, l Limits) (*Limiter, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim, err := New(l, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return lim, c
}

func TestLimitsValidate(t *testing.T) {
	tests := []struct {
		name    string
		in      Limits
		want    Limits
		wantErr string
	}{
		{"defaults", Limits{}, Limits{PerAccount: 10, PerIP: 50, Window: 15 * time.Minute, RegistrationsPerIP: 10, RegistrationWindow: time.Hour}, ""},
		{"kept", Limits{PerAccount: 3, PerIP: 4, Window: time.Second, RegistrationsPerIP: 5, RegistrationWindow: time.Minute},
			Limits{PerAccount: 3, PerIP: 4, Window: time.Second, RegistrationsPerIP: 5, RegistrationWindow: time.Minute}, ""},
		{"negative registrations", Limits{RegistrationsPerIP: -1}, Limits{}, "must be positive"},
		{"negative window", Limits{Window: -time.Second}, Limits{}, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			err := got.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, nerr := New(tt.in, nil); nerr == nil {
					t.Fatal("New accepted invalid limits")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// step is one call on a Limiter in a scripted test.
type step struct {
	op      string // login, fail, succeed, abort, register, unregister, advance
	account string
	ip      string
	advance time.Duration
	wantOK  bool
	wantMin time.Duration // minimum retry-after when refused
}

func TestLimiterScripts(t *testing.T) {
	limits := Limits{PerAccount: 2, PerIP: 3, Window: time.Minute, RegistrationsPerIP: 2, RegistrationWindow: time.Hour}
	tests := []struct {
		name  string
		steps []step
	}{
		{"account budget then refill", []step{
			{op: "login", account: "Ann", ip: "a", wantOK: true}, {op: "fail", account: "Ann", ip: "a"},
			{op: "login", account: " ann ", ip: "b", wantOK: true}, {op: "fail", account: "ann", ip: "b"},
			{op: "login", account: "ANN", ip: "c", wantMin: 25 * time.Second},
			{op: "advance", advance: 30 * time.Second},
			{op: "login", account: "ann", ip: "c", wantOK: true},
		}},
		{"ip budget across accounts", []step{
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "b", ip: "x", wantOK: true}, {op: "fail", account: "b", ip: "x"},
			{op: "login", account: "c", ip: "x", wantOK: true}, {op: "fail", account: "c", ip: "x"},
			{op: "login", account: "d", ip: "x", wantMin: time.Second},
			{op: "login", account: "d", ip: "y", wantOK: true},
		}},
		{"success forgets account failures and refunds ip", []step{
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "succeed", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantMin: time.Second},
			{op: "login", account: "b", ip: "x", wantMin: time.Second}, // ip: 3 failures
		}},
		{"aborted attempts are free", []step{
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "abort", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "abort", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "abort", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true},
		}},
		{"refused attempt reserves nothing", []step{
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"},
			{op: "login", account: "a", ip: "x"}, {op: "login", account: "a", ip: "x"},
			{op: "login", account: "b", ip: "x", wantOK: true}, // ip has 1 left: refusals took none
		}},
		{"registrations per ip", []step{
			{op: "register", ip: "x", wantOK: true}, {op: "register", ip: "x", wantOK: true},
			{op: "register", ip: "x", wantMin: 29 * time.Minute},
			{op: "register", ip: "y", wantOK: true},
			{op: "advance", advance: 30 * time.Minute},
			{op: "register", ip: "x", wantOK: true},
			{op: "register", ip: "x", wantMin: time.Second},
		}},
		{"invalid registrations are refunded", []step{
			{op: "register", ip: "x", wantOK: true}, {op: "unregister", ip: "x"},
			{op: "register", ip: "x", wantOK: true}, {op: "unregister", ip: "x"},
			{op: "register", ip: "x", wantOK: true}, {op: "register", ip: "x", wantOK: true},
			{op: "register", ip: "x"},
		}},
		{"password checks: a budget per user, the ip's shared with sign-ins", []step{
			{op: "check", account: "u1", ip: "x", wantOK: true}, {op: "checkfail", account: "u1", ip: "x"},
			{op: "check", account: "u1", ip: "y", wantOK: true}, {op: "checkfail", account: "u1", ip: "y"},
			{op: "check", account: "u1", ip: "z", wantMin: 25 * time.Second},
			{op: "login", account: "u1", ip: "z", wantOK: true},                                     // a login name "u1" is another budget
			{op: "login", account: "a", ip: "x", wantOK: true}, {op: "fail", account: "a", ip: "x"}, // x: 1 of 3 left
			{op: "check", account: "u2", ip: "x", wantOK: true}, {op: "checkfail", account: "u2", ip: "x"},
			{op: "check", account: "u3", ip: "x", wantMin: time.Second},
			{op: "login", account: "b", ip: "x", wantMin: time.Second},
		}},
		{"a passed check forgets the user's failures, an aborted one is free", []step{
			{op: "check", account: "u", ip: "x", wantOK: true}, {op: "checkfail", account: "u", ip: "x"},
			{op: "check", account: "u", ip: "x", wantOK: true}, {op: "checkpass", account: "u", ip: "x"},
			{op: "check", account: "u", ip: "x", wantOK: true}, {op: "checkabort", account: "u", ip: "x"},
			{op: "check", account: "u", ip: "x", wantOK: true}, {op: "checkfail", account: "u", ip: "x"},
			{op: "check", account: "u", ip: "x", wantOK: true}, {op: "checkfail", account: "u", ip: "x"},
			{op: "check", account: "u", ip: "y", wantMin: time.Second},
		}},
		{"sign-in and registration budgets are separate", []step{
			{op: "register", ip: "x", wantOK: true}, {op: "register", ip: "x", wantOK: true},
			{op: "login", account: "a", ip: "x", wantOK: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, clk := newTestLimiter(t, limits)
			for i, s := range tt.steps {
				var ok bool
				var d time.Duration
				switch s.op {
				case "login":
					ok, d = lim.AllowLogin(s.account, s.ip)
				case "register":
					ok, d = lim.AllowRegistration(s.ip)
				case "fail":
					lim.LoginFailed(s.account, s.ip)
					continue
				case "succeed":
					lim.LoginSucceeded(s.account, s.ip)
					continue
				case "abort":
					lim.LoginAborted(s.account, s.ip)
					continue
				case "check":
					ok, d = lim.AllowPasswordCheck(s.account, s.ip)
				case "checkfail":
					lim.PasswordCheckFailed(s.account, s.ip)
					continue
				case "checkpass":
					lim.PasswordCheckPassed(s.account, s.ip)
					continue
				case "checkabort":
					lim.PasswordCheckAborted(s.account, s.ip)
					continue
				case "unregister":
					lim.RegistrationAborted(s.ip)
					continue
				case "advance":
					clk.advance(s.advance)
					continue
				default:
					t.Fatalf("unknown op %q", s.op)
				}
				if ok != s.wantOK {
					t.Fatalf("step %d %+v: ok = %v, want %v", i, s, ok, s.wantOK)
				}
				if ok && d != 0 {
					t.Fatalf("step %d: allowed with retry-after %v", i, d)
				}
				if !ok && (d < s.wantMin || d <= 0) {
					t.Fatalf("step %d: retry-after %v, want at least %v", i, d, s.wantMin)
				}
			}
		})
	}
}

// TestLimiterConcurrent checks that concurrent attempts cannot overrun a
// budget: the reservation happens before the (slow) password check.
func TestLimiterConcurrent(t *testing.T) {
	lim, _ := newTestLimiter(t, Limits{PerAccount: 5, PerIP: 1000, RegistrationsPerIP: 7})
	var logins, regs atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _ := lim.AllowLogin("victim", "ip"); ok {
				logins.Add(1)
				lim.LoginFailed("victim", "ip")
			}
			if ok, _ := lim.AllowRegistration("ip"); ok {
				regs.Add(1)
			}
		})
	}
	wg.Wait()
	if logins.Load() != 5 || regs.Load() != 7 {
		t.Fatalf("allowed %d sign-ins (want 5), %d registrations (want 7)", logins.Load(), regs.Load())
	}
}

func TestSweepDropsFullBuckets(t *testing.T) {
	lim, clk := newTestLimiter(t, Limits{PerAccount: 2, PerIP: 2, Window: time.Minute, RegistrationsPerIP: 1, RegistrationWindow: time.Minute})
	for _, a := range []string{"a", "b"} {
		if ok, _ := lim.AllowLogin(a, a); !ok {
			t.Fatal("refused")
		}
		lim.LoginFailed(a, a)
	}
	lim.AllowRegistration("r")
	clk.advance(2 * time.Minute)
	lim.AllowLogin("c", "c") // triggers the sweep, then reserves c
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if len(lim.accounts.m) != 1 || len(lim.ips.m) != 1 || len(lim.regs.m) != 0 {
		t.Fatalf("after sweep: %d accounts, %d ips, %d registrations", len(lim.accounts.m), len(lim.ips.m), len(lim.regs.m))
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "1"}, {time.Millisecond, "1"}, {time.Second, "1"}, {1001 * time.Millisecond, "2"}, {15 * time.Minute, "900"},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.d); got != tt.want {
			t.Errorf("RetryAfter(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
