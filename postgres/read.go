package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// Reader implements queries.Finder over the read tables of
// migrations/0002_read_models.sql (kept by the projections). It never reads
// the event store. A Reader is safe for concurrent use.
type Reader struct {
	pool *pgxpool.Pool
}

var _ queries.Finder = (*Reader)(nil)

// NewReader returns a Reader querying pool.
func NewReader(pool *pgxpool.Pool) *Reader { return &Reader{pool: pool} }

// errInvalidCursor is returned for any cursor this Reader did not produce.
func errInvalidCursor() error {
	return domain.Errorf(domain.KindInvalid, "invalid_cursor", "the cursor is not valid for this list")
}

// encodeCursor returns the opaque cursor of a list position: base64url of
// the JSON of the last row's sort key.
func encodeCursor(v any) *string {
	b, err := json.Marshal(v)
	if err != nil { // sort keys are plain structs; cannot happen
		panic(fmt.Sprintf("postgres: encode cursor: %v", err))
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// maxCursorLen bounds the cursors accepted; ours are far shorter.
const maxCursorLen = 512

// decodeCursor decodes cursor into v, rejecting anything malformed with
// errInvalidCursor. An empty cursor leaves v alone and reports false.
func decodeCursor(cursor string, v any) (bool, error) {
	if cursor == "" {
		return false, nil
	}
	if len(cursor) > maxCursorLen {
		return false, errInvalidCursor()
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return false, errInvalidCursor()
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return false, errInvalidCursor()
	}
	return true, nil
}

// args collects positional query arguments.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// uuidPattern matches the canonical text form of a UUID, so actor ids that
// are not user ids ("system", "") never reach a uuid cast.
const uuidPattern = `'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'`

// joinUserByText returns a LEFT JOIN of users as alias on a text actor column.
func joinUserByText(alias, col string) string {
	return " LEFT JOIN users " + alias + " ON " + alias + ".id = (CASE WHEN " + col + " ~ " + uuidPattern + " THEN " + col + "::uuid END)"
}

// parseUUID reports whether s is a UUID, returning its canonical form.
func parseUUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", false
	}
	return u.String(), true
}

// escapeLike escapes s for use inside a LIKE pattern with the default escape.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// validText reports whether s can reach PostgreSQL as text: valid UTF-8
// without NUL bytes. Filters that fail it match nothing.
func validText(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// searchText returns s made safe for PostgreSQL text (NUL bytes and invalid
// UTF-8 dropped) and trimmed: free-text queries are fuzzy anyway.
func searchText(s string) string {
	return strings.TrimSpace(strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), ""))
}

// notFound reports whether err is pgx.ErrNoRows.
func notFound(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// ListTags implements queries.Finder.
func (r *Reader) ListTags(ctx context.Context) ([]queries.Tag, error) {
	rows, err := r.pool.Query(ctx, `SELECT name, count FROM tags WHERE count > 0 ORDER BY count DESC, name`)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	tags, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (queries.Tag, error) {
		var t queries.Tag
		err := row.Scan(&t.Name, &t.Count)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	if tags == nil {
		tags = []queries.Tag{}
	}
	return tags, nil
}
