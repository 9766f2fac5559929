package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// listener owns the Store's dedicated LISTEN connection and calls wake on
// every notification, and after every reconnect (notifications sent while
// it was disconnected are lost, so subscribers must look for themselves).
type listener struct {
	config *pgx.ConnConfig
	wake   func(payload string)
	done   chan struct{}
}

// startListener connects and listens before returning, so a bad DSN fails
// Open; the loop then runs until runCtx ends.
func startListener(ctx, runCtx context.Context, config *pgx.ConnConfig, wake func(payload string)) (*listener, error) {
	l := &listener{config: config, wake: wake, done: make(chan struct{})}
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	go l.run(runCtx, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.config)
	if err != nil {
		return nil, fmt.Errorf("eventstore/postgres: listen: connect: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("eventstore/postgres: listen: %w", err)
	}
	return conn, nil
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	backoff := 50 * time.Millisecond
	for {
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				break
			}
			backoff = 50 * time.Millisecond
			l.wake(n.Payload)
		}
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = conn.Close(closeCtx)
		cancel()
		// Reconnect until it works or the store closes.
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if conn, err = l.connect(ctx); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		l.wake("") // notifications may have been missed
	}
}

// wait blocks until the listener loop has stopped.
func (l *listener) wait() { <-l.done }
