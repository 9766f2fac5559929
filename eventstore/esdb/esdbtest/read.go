package esdbtest

import (
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// defaultSearchWindow is the real server's window when the client asks for
// a count-based window.
const defaultSearchWindow = 32

// Read serves plain reads (a fixed count; events only, and StreamNotFound
// for a missing stream — never checkpoints or caught-up, the client panics
// on those) and subscriptions (confirmation, catch-up, caught-up, live).
func (h *streamsServer) Read(req *api.ReadReq, stream api.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read: options are required")
	}
	structured := o.GetUuidOption().GetString_() == nil
	f, err := newFilter(o.GetFilter())
	if err != nil {
		return err
	}
	backwards := o.GetReadDirection() == api.ReadReq_Options_Backwards
	_, subscribe := o.GetCountOption().(*api.ReadReq_Options_Subscription)
	if subscribe && backwards {
		return status.Error(codes.InvalidArgument, "read: subscriptions read forwards only")
	}

	switch so := o.GetStreamOption().(type) {
	case *api.ReadReq_Options_Stream:
		name := string(so.Stream.GetStreamIdentifier().GetStreamName())
		if subscribe {
			return h.srv.subscribeStream(stream, name, so.Stream, structured)
		}
		return h.srv.readStream(stream, name, so.Stream, backwards, o.GetCount(), structured)
	case *api.ReadReq_Options_All:
		if subscribe {
			return h.srv.subscribeAll(stream, so.All, f, structured)
		}
		return h.srv.readAll(stream, so.All, backwards, o.GetCount(), f, structured)
	default:
		return status.Error(codes.InvalidArgument, "read: stream or all option is required")
	}
}

func (s *Server) readStream(out api.Streams_ReadServer, name string, opts *api.ReadReq_Options_StreamOptions, backwards bool, count uint64, structured bool) error {
	events, _ := s.streamSnapshot(name)
	if len(events) == 0 {
		return out.Send(&api.ReadResp{Content: &api.ReadResp_StreamNotFound_{StreamNotFound: &api.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	n := uint64(len(events))
	if !backwards {
		var from uint64
		switch r := opts.GetRevisionOption().(type) {
		case *api.ReadReq_Options_StreamOptions_Revision:
			from = r.Revision
		case *api.ReadReq_Options_StreamOptions_End:
			from = n
		}
		for i := from; i < n && count > 0; i, count = i+1, count-1 {
			if err := out.Send(eventResp(events[i], structured)); err != nil {
				return err
			}
		}
		return nil
	}
	from := n - 1
	switch r := opts.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		from = min(r.Revision, n-1)
	case *api.ReadReq_Options_StreamOptions_Start:
		from = 0
	}
	for i := int64(from); i >= 0 && count > 0; i, count = i-1, count-1 {
		if err := out.Send(eventResp(events[i], structured)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) readAll(out api.Streams_ReadServer, opts *api.ReadReq_Options_AllOptions, backwards bool, count uint64, f filter, structured bool) error {
	log, _ := s.snapshot()
	if !backwards {
		// Forwards from a position is inclusive.
		from := 0
		switch p := opts.GetAllOption().(type) {
		case *api.ReadReq_Options_AllOptions_Position:
			from = firstAtOrAfter(log, p.Position.GetCommitPosition())
		case *api.ReadReq_Options_AllOptions_End:
			from = len(log)
		}
		for i := from; i < len(log) && count > 0; i++ {
			if !f.match(log[i]) {
				continue
			}
			if err := out.Send(eventResp(log[i], structured)); err != nil {
				return err
			}
			count--
		}
		return nil
	}
	// Backwards from a position returns the records before it.
	from := len(log) - 1
	switch p := opts.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		from = firstAtOrAfter(log, p.Position.GetCommitPosition()) - 1
	case *api.ReadReq_Options_AllOptions_Start:
		from = -1
	}
	for i := from; i >= 0 && count > 0; i-- {
		if !f.match(log[i]) {
			continue
		}
		if err := out.Send(eventResp(log[i], structured)); err != nil {
			return err
		}
		count--
	}
	return nil
}

// subscribeAll confirms, catches up from the start option (a position is
// exclusive, as on the real server), announces caught-up once, then waits
// for writes and delivers them.
func (s *Server) subscribeAll(out api.Streams_ReadServer, opts *api.ReadReq_Options_AllOptions, f filter, structured bool) error {
	log, _ := s.snapshot()
	next := 0
	switch p := opts.GetAllOption().(type) {
	case *api.ReadReq_Options_AllOptions_Position:
		next = firstAtOrAfter(log, p.Position.GetCommitPosition())
		if next < len(log) && log[next].position == p.Position.GetCommitPosition() {
			next++
		}
	case *api.ReadReq_Options_AllOptions_End:
		next = len(log)
	}
	if err := out.Send(confirmation()); err != nil {
		return err
	}
	considered := 0
	caughtUp := false
	for {
		log, changed := s.snapshot()
		for ; next < len(log); next++ {
			r := log[next]
			if f.match(r) {
				if err := out.Send(eventResp(r, structured)); err != nil {
					return err
				}
			}
			considered++
			if f.checkpointEvery > 0 && considered >= f.checkpointEvery {
				considered = 0
				if err := out.Send(checkpoint(r.position)); err != nil {
					return err
				}
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := out.Send(caughtUpResp()); err != nil {
				return err
			}
		}
		if err := s.wait(out, changed); err != nil {
			return err
		}
	}
}

// subscribeStream is subscribeAll for one stream; a revision is exclusive.
func (s *Server) subscribeStream(out api.Streams_ReadServer, name string, opts *api.ReadReq_Options_StreamOptions, structured bool) error {
	events, _ := s.streamSnapshot(name)
	next := 0
	switch r := opts.GetRevisionOption().(type) {
	case *api.ReadReq_Options_StreamOptions_Revision:
		next = int(r.Revision + 1)
	case *api.ReadReq_Options_StreamOptions_End:
		next = len(events)
	}
	if err := out.Send(confirmation()); err != nil {
		return err
	}
	caughtUp := false
	for {
		events, changed := s.streamSnapshot(name)
		for ; next < len(events); next++ {
			if err := out.Send(eventResp(events[next], structured)); err != nil {
				return err
			}
		}
		if !caughtUp {
			caughtUp = true
			if err := out.Send(caughtUpResp()); err != nil {
				return err
			}
		}
		if err := s.wait(out, changed); err != nil {
			return err
		}
	}
}

// wait blocks until the next write, the caller leaving, or server shutdown.
func (s *Server) wait(out api.Streams_ReadServer, changed <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-out.Context().Done():
		return status.FromContextError(out.Context().Err()).Err()
	case <-s.done:
		return status.Error(codes.Unavailable, "server is shutting down")
	}
}

func eventResp(r *record, structured bool) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Event{Event: &api.ReadResp_ReadEvent{
		Event: &api.ReadResp_ReadEvent_RecordedEvent{
			Id:               toProtoUUID(r.id, structured),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)},
			StreamRevision:   r.revision,
			PreparePosition:  r.position,
			CommitPosition:   r.position,
			Metadata:         r.metadata,
			CustomMetadata:   r.customMetadata,
			Data:             r.data,
		},
		Position: &api.ReadResp_ReadEvent_CommitPosition{CommitPosition: r.position},
	}}}
}

func confirmation() *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Confirmation{Confirmation: &api.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString(),
	}}}
}

func caughtUpResp() *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_CaughtUp_{CaughtUp: &api.ReadResp_CaughtUp{}}}
}

func checkpoint(pos uint64) *api.ReadResp {
	return &api.ReadResp{Content: &api.ReadResp_Checkpoint_{Checkpoint: &api.ReadResp_Checkpoint{
		CommitPosition:  pos,
		PreparePosition: pos,
	}}}
}

// filter is a server-side $all filter; the zero value matches everything.
type filter struct {
	onType          bool // match the event type instead of the stream name
	prefixes        []string
	regex           *regexp.Regexp
	checkpointEvery int // considered events between checkpoints; 0 = none
}

func newFilter(o *api.ReadReq_Options_FilterOptions) (filter, error) {
	if o == nil {
		return filter{}, nil
	}
	var f filter
	var expr *api.ReadReq_Options_FilterOptions_Expression
	switch x := o.GetFilter().(type) {
	case *api.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr = x.StreamIdentifier
	case *api.ReadReq_Options_FilterOptions_EventType:
		expr, f.onType = x.EventType, true
	default:
		return filter{}, status.Error(codes.InvalidArgument, "read: filter needs a stream or event type expression")
	}
	f.prefixes = expr.GetPrefix()
	if expr.GetRegex() != "" {
		re, err := regexp.Compile(expr.GetRegex())
		if err != nil {
			return filter{}, status.Errorf(codes.InvalidArgument, "read: filter regex: %v", err)
		}
		f.regex = re
	}
	window := int(o.GetMax())
	if _, ok := o.GetWindow().(*api.ReadReq_Options_FilterOptions_Count); ok || window == 0 {
		window = defaultSearchWindow
	}
	f.checkpointEvery = window * int(max(o.GetCheckpointIntervalMultiplier(), 1))
	return f, nil
}

func (f filter) match(r *record) bool {
	subject := r.stream
	if f.onType {
		subject = r.eventType
	}
	if len(f.prefixes) > 0 {
		for _, p := range f.prefixes {
			if strings.HasPrefix(subject, p) {
				return f.regex == nil || f.regex.MatchString(subject)
			}
		}
		return false
	}
	return f.regex == nil || f.regex.MatchString(subject)
}
