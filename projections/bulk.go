package projections

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// BulkLoader is implemented by projections whose tables a rebuild can fill
// with COPY instead of their Apply statements: append-only tables whose rows
// each event determines on its own (a timeline, an audit trail). During the
// first phase of a rebuild the scratch tables are private, so Rebuild creates
// them without their indexes, streams the rows of the whole log into them
// with binary COPY, and only then builds the indexes (the same definitions
// as the live tables). Events appended after that go through Apply as usual,
// which the unique indexes keep idempotent.
//
// A BulkLoad must produce exactly the rows that applying the same events one
// by one from an empty table would leave (Apply's ON CONFLICT DO NOTHING
// keeps the first row of a key: see BulkLoad.Finish).
type BulkLoader interface {
	Projection
	// BulkTables describes, for each of Tables, the columns BulkLoad.Add
	// writes, in order.
	BulkTables() []BulkTable
	// NewBulkLoad starts loading the log from its first event.
	NewBulkLoad() BulkLoad
}

// BulkTable is a table a BulkLoader fills: its name (one of the
// projection's Tables) and the columns its rows give, in order. Columns left
// out take their defaults.
type BulkTable struct {
	Name    string
	Columns []string
}

// BulkLoad turns the events of a log, in log order, into table rows.
type BulkLoad interface {
	// Add writes the rows ev adds (none for events it ignores). It fails
	// where Apply would.
	Add(ev Event, w *BulkWriter) error
	// Finish returns the statements to run on the loaded tables (with the
	// scratch schema first on the search path) before their indexes are
	// built, e.g. to drop rows whose keys repeat, which the unique index
	// would refuse; usually none.
	Finish() []string
}

// BulkWriter encodes rows in PostgreSQL's binary COPY format, one stream per
// table of a BulkLoader (the order of BulkTables).
type BulkWriter struct {
	tables []*copyStream
	row    CopyRow
	err    error
}

// copyStream is the COPY data of one table not yet handed over.
type copyStream struct {
	name string
	cols int
	buf  []byte
	rows int64
}

// copySignature starts every binary COPY stream: signature, flags and
// header extension length.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func newBulkWriter(tables []BulkTable) *BulkWriter {
	w := &BulkWriter{}
	for _, t := range tables {
		w.tables = append(w.tables, &copyStream{name: t.Name, cols: len(t.Columns), buf: append([]byte(nil), copySignature...)})
	}
	return w
}

// Row starts a row of table (an index into BulkTables) and returns it, to be
// given every column in order.
func (w *BulkWriter) Row(table int) *CopyRow {
	w.endRow()
	s := w.tables[table]
	s.buf = binary.BigEndian.AppendUint16(s.buf, uint16(s.cols))
	s.rows++
	w.row = CopyRow{s: s}
	return &w.row
}

// endRow checks that the current row got all its columns.
func (w *BulkWriter) endRow() {
	if r := w.row; r.s != nil && r.n != r.s.cols && w.err == nil {
		w.err = fmt.Errorf("bulk load: row %d of %s has %d columns, want %d", r.s.rows, r.s.name, r.n, r.s.cols)
	}
	w.row = CopyRow{}
}

// check reports a malformed row written so far.
func (w *BulkWriter) check() error {
	w.endRow()
	return w.err
}

// CopyRow is one row being written: call one method per column, in the
// order of BulkTable.Columns. The methods encode the values as pgx does for
// the same Go values.
type CopyRow struct {
	s *copyStream
	n int
}

func (r *CopyRow) field(size int) []byte {
	r.n++
	r.s.buf = binary.BigEndian.AppendUint32(r.s.buf, uint32(size))
	return r.s.buf
}

// Null writes NULL.
func (r *CopyRow) Null() *CopyRow {
	r.n++
	r.s.buf = binary.BigEndian.AppendUint32(r.s.buf, 0xffffffff)
	return r
}

// Text writes a text value.
func (r *CopyRow) Text(s string) *CopyRow {
	r.s.buf = append(r.field(len(s)), s...)
	return r
}

// Int32 writes an integer value.
func (r *CopyRow) Int32(v int32) *CopyRow {
	r.s.buf = binary.BigEndian.AppendUint32(r.field(4), uint32(v))
	return r
}

// NullInt32 writes an integer value, or NULL for nil.
func (r *CopyRow) NullInt32(v *int32) *CopyRow {
	if v == nil {
		return r.Null()
	}
	return r.Int32(*v)
}

// Int64 writes a bigint value.
func (r *CopyRow) Int64(v int64) *CopyRow {
	r.s.buf = binary.BigEndian.AppendUint64(r.field(8), uint64(v))
	return r
}

// UUID writes a uuid value.
func (r *CopyRow) UUID(u uuid.UUID) *CopyRow {
	r.s.buf = append(r.field(16), u[:]...)
	return r
}

// microsecondsFromUnixEpochToY2K is the offset of PostgreSQL's timestamp epoch.
const microsecondsFromUnixEpochToY2K = 946_684_800 * 1_000_000

// Time writes a timestamptz value, truncated to microseconds like pgx does.
func (r *CopyRow) Time(t time.Time) *CopyRow {
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000
	r.s.buf = binary.BigEndian.AppendUint64(r.field(8), uint64(us-microsecondsFromUnixEpochToY2K))
	return r
}

// textOID is PostgreSQL's text type.
const textOID = 25

// TextArray writes a one-dimensional text[] value ('{}' when empty).
func (r *CopyRow) TextArray(a []string) *CopyRow {
	size := 12
	if len(a) > 0 {
		size += 8
		for _, s := range a {
			size += 4 + len(s)
		}
	}
	b := r.field(size)
	if len(a) == 0 {
		b = binary.BigEndian.AppendUint32(b, 0) // dimensions
		b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
		r.s.buf = binary.BigEndian.AppendUint32(b, textOID)
		return r
	}
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, textOID)
	b = binary.BigEndian.AppendUint32(b, uint32(len(a)))
	b = binary.BigEndian.AppendUint32(b, 1) // lower bound
	for _, s := range a {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	r.s.buf = b
	return r
}

// copySQL is the COPY statement of a bulk table in schema.
func copySQL(schema string, t BulkTable) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = quoteIdent(c)
	}
	return "COPY " + quoteIdent(schema) + "." + quoteIdent(t.Name) + " (" + strings.Join(cols, ", ") + ") FROM STDIN (FORMAT binary, FREEZE)"
}

// quoteIdent quotes an SQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
