package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/palimpsest-cms/palimpsest/commands"
	pgstore "github.com/palimpsest-cms/palimpsest/eventstore/postgres"
	"github.com/palimpsest-cms/palimpsest/seed"
)

// seedFlags are the flags of `cms seed`.
var seedFlags struct {
	posts, edits, users, workers int
	seed                         uint64
	password                     string
	publishShare                 float64
}

func init() {
	register("seed", "create placeholder users and posts (--posts N --edits-per-post M --users U)", runSeed)
	subcommandFlags["seed"] = func(fs *flag.FlagSet) {
		fs.IntVar(&seedFlags.posts, "posts", 100, "number of posts")
		fs.IntVar(&seedFlags.edits, "edits-per-post", 5, "edits after each draft (a post gets M+1 revisions)")
		fs.IntVar(&seedFlags.users, "users", 20, "number of users (admin1, author1…, editor1…, auditor1, reader1…)")
		fs.IntVar(&seedFlags.workers, "workers", seed.DefaultWorkers, "posts appended in parallel")
		fs.Uint64Var(&seedFlags.seed, "seed", 1, "random seed: the same seed gives the same content")
		fs.StringVar(&seedFlags.password, "password", "", "password of every seeded user; empty = generate one and print it")
		fs.Float64Var(&seedFlags.publishShare, "publish-share", seed.DefaultPublishShare, "share of posts that end up published")
	}
}

func runSeed(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 {
		fmt.Fprintf(env.Stderr, "cms seed: unexpected arguments %q\n", args)
		return errUsage
	}
	password := seedFlags.password
	if password == "" && seedFlags.users > 0 {
		password = rand.Text()[:16]
		fmt.Fprintf(env.Stdout, "password of every seeded user (shown once): %s\n", password)
	}
	store, closeStore, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeStore()
	handler, err := commands.New(commands.Config{Store: store})
	if err != nil {
		return err
	}
	cfg := seed.Config{
		Store: store, Commands: handler,
		Users: seedFlags.users, Posts: seedFlags.posts, EditsPerPost: seedFlags.edits,
		PublishShare: seedFlags.publishShare, Password: password, Seed: seedFlags.seed, Workers: seedFlags.workers,
	}
	if pg, ok := store.(*pgstore.Store); ok {
		// Keep the planner's statistics current during the bulk load: with
		// stale ones (autovacuum off or behind) the append path's event-ID
		// lookup degrades into a scan of the whole log.
		cfg.Analyze = func(ctx context.Context) error {
			_, err := pg.Pool().Exec(ctx, "ANALYZE es_events, es_streams")
			return err
		}
	}
	s, err := seed.New(cfg)
	if err != nil {
		return err
	}

	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		reportProgress(env.Stderr, s, stop)
	}()
	res, err := s.Run(ctx)
	close(stop)
	<-stopped
	if err != nil {
		return err
	}

	byRole := map[string][]string{}
	for _, u := range res.Users {
		byRole[string(u.Role)] = append(byRole[string(u.Role)], u.Username)
	}
	fmt.Fprintf(env.Stdout, "users: %d\n", len(res.Users))
	for _, r := range []string{"admin", "editor", "author", "auditor", "reader"} {
		if names := byRole[r]; len(names) > 0 {
			fmt.Fprintf(env.Stdout, "  %-8s %s\n", r, abbreviate(names, 8))
		}
	}
	rate := float64(res.Events) / res.Elapsed.Seconds()
	fmt.Fprintf(env.Stdout, "posts: %d created (%d published), %d already present; %d events in %s (%.0f events/s)\n",
		res.Posts, res.Published, res.Skipped, res.Events, res.Elapsed.Round(time.Millisecond), rate)
	fmt.Fprintln(env.Stdout, "projections pick the events up when `cms serve` runs; they ANALYZE the read tables after catching up")
	return nil
}

func abbreviate(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(", … (%d more)", len(names)-n)
}

// reportProgress prints s's progress until stop closes: a progress bar
// redrawn with \r on a terminal, plain lines every few seconds otherwise.
func reportProgress(w io.Writer, s *seed.Seeder, stop <-chan struct{}) {
	f, ok := w.(*os.File)
	tty := ok && term.IsTerminal(int(f.Fd()))
	every := 5 * time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if tty {
				fmt.Fprintf(w, "\r%s\n", progressLine(s.Progress(), true))
			}
			return
		case <-t.C:
			p := s.Progress()
			if p.PostsTotal == 0 {
				continue
			}
			if tty {
				fmt.Fprintf(w, "\r%s", progressLine(p, true))
			} else {
				fmt.Fprintln(w, progressLine(p, false))
			}
		}
	}
}

// progressLine renders done of total, rate and ETA, with a bar when bar is set.
func progressLine(p seed.Progress, bar bool) string {
	var frac float64
	if p.PostsTotal > 0 {
		frac = float64(p.PostsDone) / float64(p.PostsTotal)
	}
	secs := p.Elapsed.Seconds()
	var postRate, eventRate float64
	if secs > 0 {
		postRate, eventRate = float64(p.PostsDone)/secs, float64(p.Events)/secs
	}
	eta := "?"
	if postRate > 0 {
		eta = time.Duration(float64(p.PostsTotal-p.PostsDone) / postRate * float64(time.Second)).Round(time.Second).String()
	}
	line := fmt.Sprintf("%d/%d posts (%.1f%%)  %.0f posts/s  %.0f events/s  ETA %s",
		p.PostsDone, p.PostsTotal, 100*frac, postRate, eventRate, eta)
	if !bar {
		return "seed: " + line
	}
	const width = 30
	filled := int(frac * width)
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] " + line + "   "
}
