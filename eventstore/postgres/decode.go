package postgres

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/palimpsest-cms/palimpsest/eventstore"
)

// eventDecoder decodes the rows of selectEvents without pgx's
// per-column scan plans, for catch-up reads of thousands of events: data and
// metadata are copied into shared chunks (each slice capped at its own
// length, so appending to one never touches another), and the stream IDs
// and types of one query are interned. A retained Data therefore keeps its
// chunk (up to arenaChunk bytes) alive.
type eventDecoder struct {
	arena []byte
	names map[string]string
}

const arenaChunk = 64 << 10

// genericScan makes queryEvents use pgx's Scan instead (benchmark baseline).
var genericScan atomic.Bool

// selectEvents' column types, in order.
var eventColumnTypes = [8]uint32{pgtype.Int8OID, pgtype.UUIDOID, pgtype.TextOID, pgtype.Int8OID,
	pgtype.TextOID, pgtype.JSONOID, pgtype.JSONOID, pgtype.TimestamptzOID}

// usable reports whether fds are selectEvents' columns, the fixed-size ones
// in binary format.
func (d *eventDecoder) usable(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(eventColumnTypes) {
		return false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != eventColumnTypes[i] {
			return false
		}
		// text and json are the same bytes in either format.
		if fd.DataTypeOID != pgtype.TextOID && fd.DataTypeOID != pgtype.JSONOID && fd.Format != pgx.BinaryFormatCode {
			return false
		}
	}
	return true
}

// microsecondsFromUnixEpochToY2K is the offset of PostgreSQL's timestamp epoch.
const microsecondsFromUnixEpochToY2K = 946_684_800 * 1_000_000

func (d *eventDecoder) decode(v [][]byte, e *eventstore.RecordedEvent) error {
	if len(v) != len(eventColumnTypes) || len(v[0]) != 8 || len(v[1]) != 16 || v[2] == nil ||
		len(v[3]) != 8 || v[4] == nil || len(v[7]) != 8 {
		return fmt.Errorf("decode event row: unexpected column values")
	}
	e.Position = eventstore.Position(binary.BigEndian.Uint64(v[0]))
	copy(e.ID[:], v[1])
	e.StreamID = d.intern(v[2])
	e.Version = binary.BigEndian.Uint64(v[3])
	e.Type = d.intern(v[4])
	e.Data = d.bytes(v[5])
	e.Metadata = d.bytes(v[6])
	us := int64(binary.BigEndian.Uint64(v[7])) + microsecondsFromUnixEpochToY2K
	e.RecordedAt = time.UnixMicro(us).UTC()
	return nil
}

// bytes copies b into the arena; NULL (nil) stays nil.
func (d *eventDecoder) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) > cap(d.arena)-len(d.arena) {
		if len(b) > arenaChunk/4 {
			return append([]byte{}, b...) // large: its own allocation
		}
		d.arena = make([]byte, 0, arenaChunk)
	}
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return d.arena[start:len(d.arena):len(d.arena)]
}

// intern returns b as a string, shared with earlier equal ones.
func (d *eventDecoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	if d.names == nil {
		d.names = make(map[string]string)
	}
	s := string(b)
	d.names[s] = s
	return s
}
