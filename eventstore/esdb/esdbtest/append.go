package esdbtest

import (
	"errors"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// streamsServer implements the Streams gRPC service over a Server.
type streamsServer struct {
	api.UnimplementedStreamsServer
	srv *Server
}

// Append handles the client-streaming append: one options message, then
// the proposed events.
func (h *streamsServer) Append(stream api.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "append: first message must carry options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	if name == "" {
		return status.Error(codes.InvalidArgument, "append: stream name is required")
	}
	var events []proposal
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "append: expected a proposed message")
		}
		p, err := toProposal(msg)
		if err != nil {
			return err
		}
		events = append(events, p)
	}
	return stream.SendAndClose(h.srv.append(name, opts, events))
}

func toProposal(msg *api.AppendReq_ProposedMessage) (proposal, error) {
	id, err := fromProtoUUID(msg.GetId())
	if err != nil {
		return proposal{}, status.Errorf(codes.InvalidArgument, "append: event id: %v", err)
	}
	typ, ok := msg.GetMetadata()[metaType]
	if !ok || typ == "" {
		return proposal{}, status.Error(codes.InvalidArgument, "append: event type metadata is required")
	}
	ct, ok := msg.GetMetadata()[metaContentType]
	if !ok {
		return proposal{}, status.Error(codes.InvalidArgument, "append: content-type metadata is required")
	}
	return proposal{
		id:             id,
		eventType:      typ,
		contentType:    ct,
		customMetadata: msg.GetCustomMetadata(),
		data:           msg.GetData(),
	}, nil
}

// append applies EventStoreDB's expected-revision and idempotency rules:
// if the proposed IDs are already the stream's events at the place the
// expectation points to, the write succeeds without writing (and, like the
// real server, reports no position); otherwise a mismatch is a
// WrongExpectedVersion result, not a gRPC error.
func (s *Server) append(name string, opts *api.AppendReq_Options, events []proposal) *api.AppendResp {
	s.mu.Lock()
	defer s.mu.Unlock()
	existing := s.streams[name]
	current := len(existing) // events in the stream; revision of the last is current-1

	// idem is where an earlier identical write would have put the events
	// (-1: wherever the first ID is found, as for Any and StreamExists).
	var ok bool
	idem := -1
	switch exp := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		ok = uint64(current) == exp.Revision+1
		idem = int(exp.Revision + 1)
	case *api.AppendReq_Options_NoStream:
		ok = current == 0
		idem = 0
	case *api.AppendReq_Options_StreamExists:
		ok = current > 0
	default: // Any
		ok = true
	}

	if len(events) > 0 {
		if idem >= 0 {
			if !ok && sameIDs(existing, idem, events) {
				return success(existing[idem+len(events)-1].revision, nil)
			}
		} else {
			for i, r := range existing {
				if r.id != events[0].id {
					continue
				}
				if sameIDs(existing, i, events) {
					return success(existing[i+len(events)-1].revision, nil)
				}
				return wrongExpectedVersion(current, opts)
			}
		}
	}
	if !ok {
		return wrongExpectedVersion(current, opts)
	}
	if len(events) == 0 {
		if current == 0 {
			return &api.AppendResp{Result: &api.AppendResp_Success_{Success: &api.AppendResp_Success{
				CurrentRevisionOption: &api.AppendResp_Success_NoStream{NoStream: &shared.Empty{}},
				PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
			}}}
		}
		return success(uint64(current-1), nil)
	}
	written := s.writeLocked(name, events)
	last := written[len(written)-1]
	return success(last.revision, last)
}

// sameIDs reports whether stream[at:at+len(events)] carry the events' IDs.
func sameIDs(stream []*record, at int, events []proposal) bool {
	if at < 0 || at+len(events) > len(stream) {
		return false
	}
	for i, e := range events {
		if stream[at+i].id != e.id {
			return false
		}
	}
	return true
}

func success(revision uint64, last *record) *api.AppendResp {
	ok := &api.AppendResp_Success{
		CurrentRevisionOption: &api.AppendResp_Success_CurrentRevision{CurrentRevision: revision},
		PositionOption:        &api.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
	}
	if last != nil {
		ok.PositionOption = &api.AppendResp_Success_Position{Position: &api.AppendResp_Position{
			CommitPosition:  last.position,
			PreparePosition: last.position,
		}}
	}
	return &api.AppendResp{Result: &api.AppendResp_Success_{Success: ok}}
}

func wrongExpectedVersion(current int, opts *api.AppendReq_Options) *api.AppendResp {
	w := &api.AppendResp_WrongExpectedVersion{}
	if current == 0 {
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		rev := uint64(current - 1)
		w.CurrentRevisionOption = &api.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: rev}
		w.CurrentRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: rev}
	}
	switch exp := opts.GetExpectedStreamRevision().(type) {
	case *api.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: exp.Revision}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: exp.Revision}
	case *api.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *api.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &api.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &api.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return &api.AppendResp{Result: &api.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

func fromProtoUUID(id *shared.UUID) ([16]byte, error) {
	if st := id.GetStructured(); st != nil {
		var b [16]byte
		most, least := uint64(st.GetMostSignificantBits()), uint64(st.GetLeastSignificantBits())
		for i := 0; i < 8; i++ {
			b[i] = byte(most >> (56 - 8*i))
			b[8+i] = byte(least >> (56 - 8*i))
		}
		return b, nil
	}
	u, err := uuid.Parse(id.GetString_())
	if err != nil {
		return [16]byte{}, err
	}
	return u, nil
}

func toProtoUUID(id [16]byte, structured bool) *shared.UUID {
	if !structured {
		return &shared.UUID{Value: &shared.UUID_String_{String_: uuid.UUID(id).String()}}
	}
	var most, least uint64
	for i := 0; i < 8; i++ {
		most = most<<8 | uint64(id[i])
		least = least<<8 | uint64(id[8+i])
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(most),
		LeastSignificantBits: int64(least),
	}}}
}
