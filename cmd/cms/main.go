// Command cms is Palimpsest's one binary.
//
//	cms serve                       run the HTTP server, projections and scheduler
//	cms migrate                     create the database if missing and apply migrations
//	cms projections status|rebuild  inspect or rebuild read models
//	cms seed                        create placeholder users and posts
//	cms users                       manage accounts from the shell
//	cms replay                      print or export the global event log
//
// Every subcommand reads the shared configuration (see config.go) from
// environment variables and flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// subcommand is one `cms <name>` entry. Each lives in its own file and
// registers itself in init, so adding one never touches this file.
type subcommand struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

var subcommands = map[string]subcommand{}

// subcommandFlags holds, per subcommand, a function defining its own flags
// on the shared flag set (so `cms seed --posts 10` parses); set it in init.
var subcommandFlags = map[string]func(fs *flag.FlagSet){}

func register(name, summary string, run func(ctx context.Context, env *Env, args []string) error) {
	if _, dup := subcommands[name]; dup {
		panic("cms: duplicate subcommand " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

// Env is what every subcommand gets: configuration, logger and output streams.
type Env struct {
	Config Config
	Log    *slog.Logger
	Stdout io.Writer
	Stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cms: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	fs := flag.NewFlagSet("cms "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	cfg.RegisterFlags(fs)
	if define := subcommandFlags[args[0]]; define != nil {
		define(fs)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "cms: %v\n", err)
		return 2
	}
	env := &Env{
		Config: cfg,
		Log:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})),
		Stdout: stdout,
		Stderr: stderr,
	}
	if err := cmd.run(ctx, env, fs.Args()); err != nil {
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(stderr, "cms %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// errUsage is returned by a subcommand that already printed its usage.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cms <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, subcommands[n].summary)
	}
	fmt.Fprintln(w, "\nrun 'cms <command> -h' for the flags of a command")
}
