package projections

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// SearchName is the search projection's versioned name.
//
// WARNING: the name is the projection's checkpoint key. Change the table or
// semantics only under a new name (search_v2) and rebuild.
const SearchName = "search_v1"

// Search projects the content of post streams into post_search: one
// full-text vector per post (title weighs A, excerpt B, body C, English
// configuration), which list queries with a search text join to posts.
//
// It is a projection of its own, not a column of posts, because the vector
// and its GIN index are most of what writing a post costs PostgreSQL: in
// posts_v1 they delayed every edit's visibility. Search results follow posts
// by a batch or so; a reader that must find its own write waits for
// search_v1 as for any read model (X-Min-Position).
//
// Only the events that set a post's content touch it (see Needs): a post's
// status lives in posts, which the query joins.
type Search struct {
	open batches[searchBatch]
}

// NewSearch returns the search projection.
func NewSearch() *Search { return &Search{} }

// Name implements Projection.
func (*Search) Name() string { return SearchName }

// Tables implements Projection.
func (*Search) Tables() []string { return []string{"post_search"} }

// StreamPrefixes implements Projection.
func (*Search) StreamPrefixes() []string { return []string{domain.PostStreamPrefix} }

// Needs implements EventNeeds: only the events that set a post's content.
func (*Search) Needs(_, eventType string) Need {
	switch eventType {
	case domain.EventPostDrafted, domain.EventPostEdited, domain.EventPostReverted:
		return NeedPayload
	}
	return NeedNothing
}

// searchVector is the vector of a post's title, excerpt and body, as SQL
// over the columns title, excerpt and body of the row source.
const searchVector = `setweight(to_tsvector('english', title), 'A') ||
	setweight(to_tsvector('english', excerpt), 'B') ||
	setweight(to_tsvector('english', body), 'C')`

// sqlSearchUpsert writes the vectors of a batch's posts (one row each, in
// arrays): newer content replaces older, the same position again (a
// redelivery) changes nothing.
const sqlSearchUpsert = `INSERT INTO post_search (post_id, search, last_position)
SELECT id, ` + searchVector + `, position
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS v(id, title, excerpt, body, position)
ON CONFLICT (post_id) DO UPDATE SET search = excluded.search, last_position = excluded.last_position
WHERE post_search.last_position < excluded.last_position`

// searchBatch is the last content a batch set for each post.
type searchBatch struct {
	posts                map[string]int // post id → index into the arrays
	ids                  []uuid.UUID
	title, excerpt, body []string
	pos                  []int64
}

func (b *searchBatch) set(id uuid.UUID, c domain.PostContent, pos int64) {
	if b.posts == nil {
		b.posts = map[string]int{}
	}
	key := id.String()
	if i, ok := b.posts[key]; ok {
		b.title[i], b.excerpt[i], b.body[i], b.pos[i] = c.Title, c.Excerpt, c.Body, pos
		return
	}
	b.posts[key] = len(b.ids)
	b.ids, b.pos = append(b.ids, id), append(b.pos, pos)
	b.title, b.excerpt, b.body = append(b.title, c.Title), append(b.excerpt, c.Excerpt), append(b.body, c.Body)
}

// Apply implements Projection.
func (s *Search) Apply(ctx context.Context, tx pgx.Tx, ev Event) error {
	if s.Needs(ev.StreamID, ev.Type) == NeedNothing {
		return nil // no content
	}
	var c domain.PostContent
	switch e := ev.Payload.(type) {
	case domain.PostDrafted:
		c = e.PostContent
	case domain.PostEdited:
		c = e.PostContent
	case domain.PostReverted:
		c = e.PostContent
	default:
		return fmt.Errorf("search projection: event %s (%s) at %d: payload %T is not a content event", ev.ID, ev.Type, ev.Position, ev.Payload)
	}
	sid, err := postID(ev)
	if err != nil {
		return fmt.Errorf("search projection: %w", err)
	}
	id, err := uuid.Parse(sid)
	if err != nil {
		return fmt.Errorf("search projection: event %s at %d: post id %q: %w", ev.ID, ev.Position, sid, err)
	}
	if b := s.open.open(tx, ev); b != nil {
		b.set(id, c, int64(ev.Position))
		return nil
	}
	var one searchBatch
	one.set(id, c, int64(ev.Position))
	if err := one.write(ctx, tx); err != nil {
		return fmt.Errorf("search projection: apply %s at %d to post %s: %w", ev.Type, ev.Position, id, err)
	}
	return nil
}

func (b *searchBatch) write(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, sqlSearchUpsert, b.ids, b.title, b.excerpt, b.body, b.pos)
	return err
}

// batchesInMemory marks Search as a memoryBatcher: inside a batch, Apply
// only keeps each post's last content.
func (*Search) batchesInMemory() {}

// BeginBatch implements Batcher.
func (s *Search) BeginBatch(_ context.Context, tx pgx.Tx) error {
	s.open.begin(tx)
	return nil
}

// FlushBatch implements Batcher: one statement computes and writes the
// vectors of every post whose content the batch set, each once.
func (s *Search) FlushBatch(ctx context.Context, tx pgx.Tx) error {
	b := s.open.end(tx)
	if b == nil || len(b.ids) == 0 {
		return nil
	}
	if err := b.write(ctx, tx); err != nil {
		return fmt.Errorf("search projection: write %d posts of the batch: %w", len(b.ids), err)
	}
	return nil
}
