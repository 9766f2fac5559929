package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/palimpsest-cms/palimpsest/postgres/pgtest"
	"github.com/palimpsest-cms/palimpsest/projections"
)

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

func TestMigrateAndProjectionsCommands(t *testing.T) {
	t.Setenv("EVENTSTORE_URL", "")
	dsn := pgtest.NewDatabase(t)
	db := []string{"-database-url", dsn}

	for i := 0; i < 2; i++ { // idempotent
		if _, errOut, code := runCLI(t, append([]string{"migrate"}, db...)...); code != 0 {
			t.Fatalf("migrate #%d: exit %d: %s", i, code, errOut)
		}
	}
	out, errOut, code := runCLI(t, append([]string{"projections"}, append(db, "status", "--json")...)...)
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, errOut)
	}
	var st []projections.ProjectionStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json output %q: %v", out, err)
	}
	if len(st) != len(projections.All()) || st[0].State != projections.StateStopped {
		t.Fatalf("status = %+v", st)
	}

	out, errOut, code = runCLI(t, append([]string{"projections"}, append(db, "status")...)...)
	if code != 0 || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, st[0].Name) {
		t.Fatalf("status table: exit %d %q %s", code, out, errOut)
	}

	out, errOut, code = runCLI(t, append([]string{"projections"}, append(db, "rebuild", "--all")...)...)
	if code != 0 || strings.Count(out, "rebuilt in") != len(st) {
		t.Fatalf("rebuild --all: exit %d %q %s", code, out, errOut)
	}
	if _, _, code = runCLI(t, append([]string{"projections"}, append(db, "rebuild", "nope_v1")...)...); code != 1 {
		t.Fatalf("rebuild of an unknown projection: exit %d, want 1", code)
	}
	if _, _, code = runCLI(t, append([]string{"projections"}, append(db, "frobnicate")...)...); code != 2 {
		t.Fatalf("unknown action: exit %d, want 2", code)
	}
}
