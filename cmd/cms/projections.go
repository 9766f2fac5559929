package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palimpsest-cms/palimpsest/postgres"
	"github.com/palimpsest-cms/palimpsest/projections"
)

func init() {
	register("projections", "inspect or rebuild read models: status [--json] | rebuild NAME...|--all | resume NAME", runProjections)
}

func projectionsUsage(env *Env) error {
	fmt.Fprintln(env.Stderr, `usage:
  cms projections status [--json]       checkpoint, lag and state of every projection
  cms projections rebuild NAME...|--all rebuild blue/green with zero downtime
  cms projections resume NAME           retry a failed projection from its checkpoint`)
	return errUsage
}

func runProjections(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return projectionsUsage(env)
	}
	all := projections.All()
	byName := map[string]projections.Projection{}
	names := make([]string, 0, len(all))
	for _, p := range all {
		byName[p.Name()] = p
		names = append(names, p.Name())
	}
	fs := flag.NewFlagSet("cms projections "+args[0], flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	asJSON := fs.Bool("json", false, "print JSON (status)")
	rebuildAll := fs.Bool("all", false, "rebuild every projection (rebuild)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	rest := fs.Args()
	switch args[0] {
	case "status", "rebuild", "resume":
	default:
		return projectionsUsage(env)
	}

	pool, err := postgres.Open(ctx, env.Config.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	store, closeStore, err := openStore(ctx, env)
	if err != nil {
		return err
	}
	defer closeStore()

	switch args[0] {
	case "status":
		st, err := projections.Status(ctx, pool, store, names...)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tPOSITION\tHEAD\tLAG\tLAG (s)\tUPDATED\t")
		for _, s := range st {
			updated := "-"
			if !s.UpdatedAt.IsZero() {
				updated = s.UpdatedAt.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.1f\t%s\t\n", s.Name, s.State, s.Position, s.HeadPosition, s.LagEvents, s.LagSeconds, updated)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, s := range st {
			if s.State == projections.StateFailed {
				fmt.Fprintf(env.Stdout, "\n%s failed at position %d: %s\n", s.Name, s.FailedPosition, s.LastError)
			}
		}
		return nil
	case "rebuild":
		targets := rest
		if *rebuildAll {
			if len(rest) > 0 {
				return projectionsUsage(env)
			}
			targets = names
		}
		if len(targets) == 0 {
			return projectionsUsage(env)
		}
		for _, n := range targets {
			if _, ok := byName[n]; !ok {
				return fmt.Errorf("rebuild %s: %w (known: %s)", n, projections.ErrUnknownProjection, strings.Join(names, ", "))
			}
		}
		// One pass over the log for all of them (see projections.Rebuild).
		ps := make([]projections.Projection, len(targets))
		for i, n := range targets {
			ps[i] = byName[n]
		}
		label := strings.Join(targets, ", ")
		if *rebuildAll {
			label = "all projections"
		}
		projections.LimitRebuildMemory()
		start := time.Now()
		if err := projections.Rebuild(ctx, projections.RebuildConfig{
			Pool: pool, Store: store, Projections: ps,
			Progress: projections.ProgressPrinter(env.Stderr, label), Logger: env.Log,
		}); err != nil {
			return err
		}
		took := time.Since(start).Round(time.Millisecond)
		for _, n := range targets {
			fmt.Fprintf(env.Stdout, "%s rebuilt in %s\n", n, took)
		}
		return nil
	case "resume":
		if len(rest) != 1 {
			return projectionsUsage(env)
		}
		if _, ok := byName[rest[0]]; !ok {
			return fmt.Errorf("resume %s: %w", rest[0], projections.ErrUnknownProjection)
		}
		return projections.Resume(ctx, pool, rest[0])
	default:
		return projectionsUsage(env)
	}
}
