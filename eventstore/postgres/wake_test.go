package postgres

import "testing"

// A notification for events this store appended and already woke its
// subscriptions for wakes nobody; any other (another process's events, an
// unreadable payload, a reconnect) wakes them all.
func TestNotifiedSkipsOwnAppends(t *testing.T) {
	sub := &subscription{wake: make(chan struct{}, 1)}
	s := &Store{subs: map[*subscription]struct{}{sub: {}}}
	woke := func() bool {
		select {
		case <-sub.wake:
			return true
		default:
			return false
		}
	}
	s.appended(10)
	if !woke() {
		t.Fatal("appending did not wake the subscription")
	}
	s.appended(7) // a smaller position later (another committer) keeps 10
	woke()
	for _, c := range []struct {
		payload string
		want    bool
	}{
		{"10", false}, {"7", false}, {"11", true}, {"", true}, {"x", true},
	} {
		s.notified(c.payload)
		if got := woke(); got != c.want {
			t.Errorf("notification %q: woke = %v, want %v", c.payload, got, c.want)
		}
	}
}
