package queries

import (
	"context"
	"time"
)

// MediaFinder reads the media library (kept by the media_v1 projection).
// Package postgres implements it (postgres.Reader). It applies no
// authorization: any signed-in author and up may browse the library.
type MediaFinder interface {
	// ListMedia lists live media items newest first, with keyset cursors.
	ListMedia(ctx context.Context, filter MediaFilter) (Page[Media], error)
	// GetMedia returns one media item by UUID, deleted ones included
	// (DeletedAt set); unknown IDs are KindNotFound "media_not_found".
	GetMedia(ctx context.Context, id string) (Media, error)
	// PublishedPostsUsing counts the published or scheduled posts whose
	// feature image is mediaID (commands.MediaUsage).
	PublishedPostsUsing(ctx context.Context, mediaID string) (int, error)
}

// MediaRendition is one stored rendition of a media item. Its URL is built
// by the HTTP layer from the media's hash, Name and Type.
type MediaRendition struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
}

// Media is a media library item (GET /api/v1/media/{id}).
type Media struct {
	ID         string           `json:"id"`
	Hash       string           `json:"hash"`
	Type       string           `json:"type"`
	Size       int64            `json:"size"`
	Width      int              `json:"width"`
	Height     int              `json:"height"`
	Alt        string           `json:"alt"`
	Uploader   UserRef          `json:"uploader"`
	Renditions []MediaRendition `json:"renditions"`
	Version    uint64           `json:"version"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	DeletedAt  *time.Time       `json:"deleted_at,omitempty"`
}

// MediaFilter selects media items for ListMedia. Deleted items are never
// listed.
type MediaFilter struct {
	UploaderID string // only this uploader's items (UUID)
	Type       string // only this MIME type, e.g. "image/png"
	Limit      int
	Cursor     string
}
