// Command lag measures the read side's live lag: how long after an edit is
// accepted through the HTTP API the posts read model shows it. It issues
// PATCH /api/v1/posts/{id} at a fixed rate (open loop: a slow server does
// not slow the schedule down) over a set of posts it drafted, and listens on
// the projections' checkpoint channel: the posts_v1 checkpoint is committed
// in the same transaction as the rows, so the first notification at or past
// a command's position is the moment the edit became visible.
//
// It prints two distributions: lag (response received → visible; 0 when
// the notification came first) and end-to-end (request sent → visible).
//
//	go run ./bench/lag -url http://127.0.0.1:8080 -database-url postgres://… -login editor1 -password … -rate 300 -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/bench/internal/apiclient"
	"github.com/palimpsest-cms/palimpsest/bench/internal/latency"
)

// notifyChannel is projections.NotifyChannel, duplicated so that this
// command does not link the projection runtime.
const notifyChannel = "palimpsest_projection_checkpoints"

// seen is a checkpoint notification: position reached and when it arrived.
type seen struct {
	pos uint64
	at  time.Time
}

// command is one edit: when it was sent, answered, and its log position.
type command struct {
	sent, answered time.Time
	pos            uint64
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "server base URL (loopback only)")
	dbURL := flag.String("database-url", "", "the server's read-model database, for LISTEN")
	projection := flag.String("projection", "posts_v1", "projection whose checkpoint counts as visible")
	login := flag.String("login", "editor1", "login of an editor or admin")
	password := flag.String("password", "", "password")
	rate := flag.Float64("rate", 300, "edits per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to issue edits")
	nPosts := flag.Int("posts", 300, "posts to edit (at most one edit in flight per post)")
	bodyBytes := flag.Int("body-bytes", 2000, "size of each edited body")
	flag.Parse()
	if *rate <= 0 || *duration <= 0 || *nPosts <= 0 || *dbURL == "" {
		log.Fatal("lag: -rate, -duration, -posts must be positive and -database-url set")
	}
	ctx := context.Background()

	conn, err := pgx.Connect(ctx, *dbURL)
	if err != nil {
		log.Fatalf("lag: connect: %v", err)
	}
	if host := conn.Config().Host; host != "127.0.0.1" && host != "localhost" && host != "::1" && !strings.HasPrefix(host, "/") {
		log.Fatalf("lag: refusing non-local database host %q", host)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		log.Fatalf("lag: listen: %v", err)
	}
	var (
		mu    sync.Mutex
		marks []seen
	)
	listenCtx, stopListen := context.WithCancel(ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		prefix := *projection + ":"
		for {
			n, err := conn.WaitForNotification(listenCtx)
			if err != nil {
				return
			}
			at := time.Now()
			rest, ok := strings.CutPrefix(n.Payload, prefix)
			if !ok || strings.Contains(rest, ":") {
				continue
			}
			pos, err := strconv.ParseUint(rest, 10, 64)
			if err != nil {
				continue
			}
			mu.Lock()
			marks = append(marks, seen{pos, at})
			mu.Unlock()
		}
	}()

	c, err := apiclient.New(*base, 512)
	if err != nil {
		log.Fatal(err)
	}
	token, err := c.Login(ctx, *login, *password)
	if err != nil {
		log.Fatalf("lag: %v", err)
	}
	type post struct {
		id      string
		version uint64
	}
	free := make(chan post, *nPosts)
	run := time.Now().UnixNano()
	for i := range *nPosts {
		res, err := c.Draft(ctx, token, fmt.Sprintf("Lag benchmark %d post %d", run, i), body(*bodyBytes, 0), []string{"bench"})
		if err != nil {
			log.Fatalf("lag: setup: %v", err)
		}
		free <- post{res.ID, res.Version}
	}
	time.Sleep(time.Second) // let the drafts' projection batches settle
	log.Printf("lag: %d posts drafted; %.0f edits/s for %s", *nPosts, *rate, *duration)

	var (
		cmdMu           sync.Mutex
		cmds            []command
		failed, skipped atomic.Int64
		wg              sync.WaitGroup
		interval        = time.Duration(float64(time.Second) / *rate)
		total           = int(duration.Seconds() * *rate)
		start           = time.Now()
	)
	for i := range total {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		var p post
		select {
		case p = <-free:
		default:
			skipped.Add(1) // every post has an edit in flight: the server is behind
			continue
		}
		wg.Go(func() {
			sent := time.Now()
			res, err := c.Edit(ctx, token, p.id, p.version, body(*bodyBytes, i+1), "lag bench")
			answered := time.Now()
			if err != nil {
				if failed.Add(1) <= 5 {
					log.Printf("lag: %v", err)
				}
				free <- p
				return
			}
			p.version = res.Version
			free <- p
			cmdMu.Lock()
			cmds = append(cmds, command{sent, answered, res.Position})
			cmdMu.Unlock()
		})
	}
	wg.Wait()
	issued := time.Since(start)
	var maxPos uint64
	for _, cm := range cmds {
		maxPos = max(maxPos, cm.pos)
	}
	// Wait (bounded) until the projection has reached the last command.
	for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		caught := len(marks) > 0 && marks[len(marks)-1].pos >= maxPos
		mu.Unlock()
		if caught {
			break
		}
	}
	stopListen()
	<-listening
	conn.Close(ctx)

	sort.Slice(marks, func(i, j int) bool { return marks[i].pos < marks[j].pos })
	var lag, e2e, answer []time.Duration
	invisible := 0
	for _, cm := range cmds {
		answer = append(answer, cm.answered.Sub(cm.sent))
		i := sort.Search(len(marks), func(i int) bool { return marks[i].pos >= cm.pos })
		if i == len(marks) {
			invisible++
			continue
		}
		vis := marks[i].at
		lag = append(lag, max(0, vis.Sub(cm.answered)))
		e2e = append(e2e, vis.Sub(cm.sent))
	}
	fmt.Printf("lag: target=%.0f/s achieved=%.0f/s edits=%d failed=%d skipped=%d not-visible=%d notifications=%d\n",
		*rate, float64(len(cmds))/issued.Seconds(), len(cmds), failed.Load(), skipped.Load(), invisible, len(marks))
	fmt.Printf("lag: command latency        %s\n", latency.Summarize(answer))
	fmt.Printf("lag: response → visible     %s\n", latency.Summarize(lag))
	fmt.Printf("lag: request sent → visible %s\n", latency.Summarize(e2e))
}

// body returns a markdown body of about n bytes that differs for every k.
func body(n, k int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Revision %d of a lag benchmark post.\n\n", k)
	for b.Len() < n {
		fmt.Fprintf(&b, "Line %d: the quick brown fox jumps over the lazy dog while revision %d is measured.\n", b.Len(), k)
	}
	return b.String()
}
