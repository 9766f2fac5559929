// Package esdbtest is an in-process gRPC server that speaks enough of
// EventStoreDB's Streams protocol for the unmodified official Go client
// (github.com/EventStore/EventStore-Client-Go/v4/esdb) to append, read
// streams and $all, and run catch-up subscriptions against it.
//
// It is test support only: production code never imports it.
//
// What it models: an in-memory transaction log with a global position
// (commit == prepare, byte-offset-like, strictly increasing but not dense),
// optimistic concurrency with EventStoreDB's expected-revision rules,
// idempotent re-appends of the same event IDs, stream and $all reads in both
// directions, server-side filters (stream name or event type, prefix or
// regex) and subscriptions to a stream or $all that catch up, announce
// caught-up, then deliver live events as they are appended (woken by a
// broadcast channel, not by polling). Filtered $all subscriptions receive
// checkpoints every max-search-window × multiplier considered events, as the
// real server does. Like a real node it writes a few system events ('$'
// streams) at start-up, so clients must filter them out.
//
// What it leaves out: ServerFeatures (the client accepts Unimplemented),
// BatchAppend, Delete, Tombstone, persistent subscriptions, projections,
// gossip, authentication and TLS.
package esdbtest

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Metadata keys EventStoreDB puts on every recorded event. The official
// client exits the process when "created" is missing or not an integer.
const (
	metaType        = "type"
	metaContentType = "content-type"
	metaCreated     = "created"
)

// firstPosition is where the first record lands, as if a chunk header
// preceded it.
const firstPosition = 128

// Server is an in-process EventStoreDB Streams endpoint on 127.0.0.1.
type Server struct {
	grpcServer *grpc.Server
	listener   net.Listener
	served     chan struct{}

	mu      sync.Mutex
	log     []*record
	streams map[string][]*record
	nextPos uint64
	changed chan struct{} // closed and replaced after every write

	done      chan struct{}
	closeOnce sync.Once
}

// record is one event in the log. Records are immutable once appended.
type record struct {
	id             [16]byte
	stream         string
	revision       uint64
	position       uint64
	eventType      string
	metadata       map[string]string
	customMetadata []byte
	data           []byte
}

// NewServer starts a server on a fresh TCP port of 127.0.0.1. Stop it with Close.
func NewServer() (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("esdbtest: listen: %w", err)
	}
	s := &Server{
		listener: lis,
		served:   make(chan struct{}),
		streams:  make(map[string][]*record),
		nextPos:  firstPosition,
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.seedSystemEvents()
	s.grpcServer = grpc.NewServer(
		// The client pings every 10 s (keepAliveInterval) even without
		// active streams; the default policy (5 min) would kill it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             time.Second,
			PermitWithoutStream: true,
		}),
		grpc.MaxRecvMsgSize(32<<20),
	)
	api.RegisterStreamsServer(s.grpcServer, &streamsServer{srv: s})
	go func() {
		defer close(s.served)
		_ = s.grpcServer.Serve(lis)
	}()
	return s, nil
}

// Start starts a server for the test, stops it on cleanup and returns the
// connection string for esdb.ParseConnectionString.
func Start(t testing.TB) string {
	t.Helper()
	s, err := NewServer()
	if err != nil {
		t.Fatalf("esdbtest: start server: %v", err)
	}
	t.Cleanup(s.Close)
	return s.ConnectionString()
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// ConnectionString returns an insecure single-node connection string.
func (s *Server) ConnectionString() string {
	return "esdb://" + s.Addr() + "?tls=false"
}

// Close stops the server, ending every open call.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.done)
		s.grpcServer.Stop()
		<-s.served
	})
}

// Len returns the number of records in the log, system events included.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// seedSystemEvents writes what a fresh node writes before any client
// connects: stream metadata and user records in '$' streams.
func (s *Server) seedSystemEvents() {
	seed := []struct{ stream, typ, contentType, data string }{
		{"$$$stats-127.0.0.1:2113", "$metadata", "application/json", `{"$maxAge":864000}`},
		{"$$$user-admin", "$metadata", "application/json", `{"$acl":{"$w":"$admins","$d":"$admins","$mw":"$admins"}}`},
		{"$user-admin", "$UserCreated", "application/json", `{"loginName":"admin","fullName":"Event Store Administrator"}`},
		{"$users", "$User", "application/octet-stream", "admin"},
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range seed {
		var id [16]byte
		id[0], id[15] = 0xee, byte(i+1)
		s.writeLocked(e.stream, []proposal{{
			id:          id,
			eventType:   e.typ,
			contentType: e.contentType,
			data:        []byte(e.data),
		}})
	}
}

// proposal is an event to write.
type proposal struct {
	id             [16]byte
	eventType      string
	contentType    string
	customMetadata []byte
	data           []byte
}

// writeLocked appends events to stream, assigning revisions and positions,
// and wakes every waiting subscription. s.mu must be held.
func (s *Server) writeLocked(stream string, events []proposal) []*record {
	now := time.Now()
	created := strconv.FormatInt(now.UnixNano()/100, 10) // .NET ticks since the Unix epoch
	existing := s.streams[stream]
	written := make([]*record, 0, len(events))
	for i, e := range events {
		r := &record{
			id:        e.id,
			stream:    stream,
			revision:  uint64(len(existing) + i),
			position:  s.nextPos,
			eventType: e.eventType,
			metadata: map[string]string{
				metaType:        e.eventType,
				metaContentType: e.contentType,
				metaCreated:     created,
			},
			customMetadata: e.customMetadata,
			data:           e.data,
		}
		// Advance like a byte offset in a transaction file: header plus payload.
		s.nextPos += uint64(64 + len(stream) + len(e.eventType) + len(e.data) + len(e.customMetadata))
		written = append(written, r)
	}
	s.streams[stream] = append(existing, written...)
	s.log = append(s.log, written...)
	close(s.changed)
	s.changed = make(chan struct{})
	return written
}

// snapshot returns the log and a channel closed at the next write.
func (s *Server) snapshot() ([]*record, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log, s.changed
}

// streamSnapshot returns a stream's records and a channel closed at the next write.
func (s *Server) streamSnapshot(stream string) ([]*record, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams[stream], s.changed
}

// firstAtOrAfter returns the index of the first record with position >= pos.
func firstAtOrAfter(log []*record, pos uint64) int {
	return sort.Search(len(log), func(i int) bool { return log[i].position >= pos })
}
