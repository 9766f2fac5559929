package httpapi

import (
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/media"
)

// apiOp describes one operation for the OpenAPI document.
type apiOp struct {
	Method, Path, Summary string
	// Auth: "" public (a token is optional), "user" signed in.
	Auth string
	// Body names the request schema ("" none); BodyOptional allows an empty body.
	Body         string
	BodyOptional bool
	// IfMatch marks post commands that need If-Match.
	IfMatch bool
	// Idempotent marks POSTs that honour Idempotency-Key.
	Idempotent bool
	// MinPosition marks GETs that honour X-Min-Position.
	MinPosition bool
	// Status and Schema of the success response ("" schema: no body).
	Status int
	Schema string
	// Query parameters.
	Query []string
	// Errors lists the problem statuses the operation documents.
	Errors []int
	// Upload marks multipart/form-data request bodies (Body names the schema).
	Upload bool
	// IfMatchOptional documents an If-Match that is checked only when sent.
	IfMatchOptional bool
	// More lists further success statuses with the same body as Status.
	More map[int]string
	// NoBody lists further statuses answered without a body (e.g. 304).
	NoBody []int
	// Conditional marks GETs with an ETag that answer a matching
	// If-None-Match with 304 (http/cache.go).
	Conditional bool
}

// apiOps is the API surface; TestOpenAPIMatchesRoutes keeps it equal to
// the router.
var apiOps = []apiOp{
	{Method: "GET", Path: "/healthz", Summary: "Liveness", Status: 200, Schema: "Health"},
	{Method: "GET", Path: "/readyz", Summary: "Readiness: event store, database and projections", Status: 200, Schema: "Ready", Errors: []int{503}},
	{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics (text exposition format)", Status: 200, Schema: "text"},
	{Method: "GET", Path: "/api/v1/openapi.json", Summary: "This document", Status: 200, Schema: "object"},

	{Method: "POST", Path: "/api/v1/auth/register", Summary: "Create an account and sign in (first account becomes admin)", Body: "RegisterRequest", Status: 201, Schema: "Session", Errors: []int{400, 409, 413, 415, 422}},
	{Method: "POST", Path: "/api/v1/auth/login", Summary: "Sign in with email or username", Body: "LoginRequest", Status: 200, Schema: "Session", Errors: []int{400, 401, 415, 422, 429}},
	{Method: "POST", Path: "/api/v1/auth/refresh", Summary: "Rotate a refresh token (body or refresh cookie + CSRF)", Body: "RefreshRequest", BodyOptional: true, Status: 200, Schema: "Session", Errors: []int{400, 401, 403, 415, 422}},
	{Method: "POST", Path: "/api/v1/auth/logout", Summary: "End the session (sign-in) of a refresh token: its refresh and access tokens", Auth: "user", Body: "RefreshRequest", BodyOptional: true, Status: 204, Errors: []int{400, 401, 415, 422}},
	{Method: "POST", Path: "/api/v1/auth/logout-others", Summary: "End every other session (sign-in) of the caller's account: their refresh and access tokens, and web UI sign-ins", Auth: "user", Status: 204, Errors: []int{400, 401, 415}},
	{Method: "GET", Path: "/api/v1/me", Summary: "Own account", Auth: "user", Status: 200, Schema: "Me", Errors: []int{401}},
	{Method: "PATCH", Path: "/api/v1/me", Summary: "Update own profile", Auth: "user", Body: "ProfileRequest", Status: 200, Schema: "UserChange", Errors: []int{400, 401, 415, 422}},
	{Method: "PUT", Path: "/api/v1/me/avatar", Summary: "Upload own profile picture (multipart file; renditions at most 480×480)", Auth: "user", Body: "AvatarUpload", Upload: true, Status: 200, Schema: "AvatarChange", Errors: []int{400, 401, 403, 409, 413, 415, 422}},
	{Method: "PUT", Path: "/api/v1/me/password", Summary: "Change own password (other sessions end); wrong current passwords are rate limited like sign-ins (429)", Auth: "user", Body: "PasswordRequest", Status: 200, Schema: "UserChange", Errors: []int{400, 401, 415, 422, 429}},
	{Method: "GET", Path: "/api/v1/users", Summary: "List accounts (admin, auditor)", Auth: "user", MinPosition: true, Query: []string{"role", "status", "q", "limit", "cursor"}, Status: 200, Schema: "UserPage", Errors: []int{401, 403, 422, 503}},
	{Method: "GET", Path: "/api/v1/users/{id}", Summary: "One account (admin, auditor)", Auth: "user", MinPosition: true, Status: 200, Schema: "User", Errors: []int{401, 403, 404, 503}},
	{Method: "PUT", Path: "/api/v1/users/{id}/role", Summary: "Change a role (admin)", Auth: "user", Body: "RoleRequest", Status: 200, Schema: "UserChange", Errors: []int{400, 401, 403, 404, 415, 422}},
	{Method: "POST", Path: "/api/v1/users/{id}/deactivate", Summary: "Deactivate an account (admin)", Auth: "user", Body: "DeactivateRequest", BodyOptional: true, Idempotent: true, Status: 200, Schema: "UserChange", Errors: []int{401, 403, 404, 409}},
	{Method: "POST", Path: "/api/v1/users/{id}/reactivate", Summary: "Reactivate an account (admin)", Auth: "user", Idempotent: true, Status: 200, Schema: "UserChange", Errors: []int{401, 403, 404, 409}},

	{Method: "POST", Path: "/api/v1/posts", Summary: "Draft a post (author+)", Auth: "user", Body: "DraftRequest", Idempotent: true, Status: 201, Schema: "CommandResult", Errors: []int{400, 401, 403, 409, 413, 415, 422}},
	{Method: "PATCH", Path: "/api/v1/posts/{id}", Summary: "Edit: a new revision (owner author, editor, admin)", Auth: "user", Body: "EditRequest", IfMatch: true, Status: 200, Schema: "CommandResult", Errors: []int{400, 401, 403, 404, 409, 413, 415, 422, 428}},
	{Method: "DELETE", Path: "/api/v1/posts/{id}", Summary: "Delete, keeping history (owner author for drafts, editor, admin)", Auth: "user", IfMatch: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "PUT", Path: "/api/v1/posts/{id}/slug", Summary: "Change the slug", Auth: "user", Body: "SlugRequest", IfMatch: true, Status: 200, Schema: "CommandResult", Errors: []int{400, 401, 403, 404, 409, 415, 422, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/submit", Summary: "Submit for review (owner author)", Auth: "user", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/request-changes", Summary: "Request changes (editor)", Auth: "user", Body: "RequestChangesRequest", BodyOptional: true, IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/publish", Summary: "Publish now (editor, admin)", Auth: "user", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/schedule", Summary: "Schedule publication (editor, admin)", Auth: "user", Body: "ScheduleRequest", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 422, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/unpublish", Summary: "Unpublish to draft (editor, admin)", Auth: "user", Body: "UnpublishRequest", BodyOptional: true, IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/archive", Summary: "Archive (editor, admin)", Auth: "user", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/restore", Summary: "Undo delete or archive (editor, admin)", Auth: "user", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 428}},
	{Method: "POST", Path: "/api/v1/posts/{id}/revert", Summary: "New revision equal to an old one", Auth: "user", Body: "RevertRequest", IfMatch: true, Idempotent: true, Status: 200, Schema: "CommandResult", Errors: []int{401, 403, 404, 409, 422, 428}},

	{Method: "PUT", Path: "/api/v1/posts/{id}/feature-image", Summary: "Set (empty media_id: remove) the feature image (owner author, editor, admin)", Auth: "user", Body: "FeatureImageRequest", IfMatch: true, Status: 200, Schema: "CommandResult", Errors: []int{400, 401, 403, 404, 409, 415, 422, 428}},

	{Method: "POST", Path: "/api/v1/media", Summary: "Upload an image (author+; multipart file, alt). 201 for new bytes; 200 with the existing item when the same bytes are already in the library", Auth: "user", Body: "MediaUpload", Upload: true, Status: 201, Schema: "Media",
		More: map[int]string{200: "the same bytes are already in the library: the existing item"}, Errors: []int{400, 401, 403, 409, 413, 415, 422}},
	{Method: "GET", Path: "/api/v1/media", Summary: "The media library, newest first (author+, auditor)", Auth: "user", MinPosition: true, Query: []string{"uploader", "type", "limit", "cursor"}, Status: 200, Schema: "MediaPage", Errors: []int{401, 403, 422, 503}},
	{Method: "GET", Path: "/api/v1/media/{id}", Summary: "One media item, deleted ones included (author+, auditor)", Auth: "user", MinPosition: true, Status: 200, Schema: "Media", Errors: []int{401, 403, 404, 503}},
	{Method: "PATCH", Path: "/api/v1/media/{id}", Summary: "Change the alt text (uploader, editor, admin)", Auth: "user", Body: "MediaAltRequest", IfMatch: true, Status: 200, Schema: "Media", Errors: []int{400, 401, 403, 404, 409, 415, 422, 428}},
	{Method: "DELETE", Path: "/api/v1/media/{id}", Summary: "Remove from the library (editor, admin); 409 media_in_use while a published post uses it", Auth: "user", IfMatchOptional: true, Status: 200, Schema: "Media", Errors: []int{401, 403, 404, 409, 422}},
	{Method: "GET", Path: "/media/{hash}/{file}", Summary: "A rendition, file = {rendition}.{ext} (thumb, w320, w640, w1280, small): immutable, ETag, Range; originals are never served", Status: 200, Schema: "image",
		More: map[int]string{206: "a byte range"}, NoBody: []int{304}, Errors: []int{404, 416}},
	{Method: "HEAD", Path: "/media/{hash}/{file}", Summary: "Headers of a rendition", Status: 200, NoBody: []int{304}, Errors: []int{404}},

	{Method: "GET", Path: "/api/v1/posts", Summary: "List visible posts, newest first; q = full-text search", MinPosition: true, Conditional: true, Query: []string{"tag", "author", "q", "status", "limit", "cursor"}, Status: 200, Schema: "PostPage", Errors: []int{401, 422, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}", Summary: "One post by id or slug; as_of or version: as it was then", MinPosition: true, Conditional: true, Query: []string{"as_of", "version"}, Status: 200, Schema: "Post", Errors: []int{401, 404, 422, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}/revisions", Summary: "Content snapshots (author of it, editor, auditor, admin)", Auth: "user", MinPosition: true, Conditional: true, Query: []string{"limit", "cursor"}, Status: 200, Schema: "RevisionPage", Errors: []int{401, 403, 404, 422, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}/revisions/{n}", Summary: "One snapshot with its body", Auth: "user", MinPosition: true, Status: 200, Schema: "Revision", Errors: []int{401, 403, 404, 422, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}/diff", Summary: "Diff of two revisions: fields, tags, body hunks with words marked", Auth: "user", MinPosition: true, Query: []string{"from", "to"}, Status: 200, Schema: "Diff", Errors: []int{401, 403, 404, 422, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}/history", Summary: "Every event of the post, oldest first", Auth: "user", MinPosition: true, Status: 200, Schema: "HistoryList", Errors: []int{401, 403, 404, 503}},
	{Method: "GET", Path: "/api/v1/posts/{id}/events", Summary: "Raw events from the store (auditor, admin)", Auth: "user", Status: 200, Schema: "EventList", Errors: []int{401, 403, 404}},
	{Method: "GET", Path: "/api/v1/tags", Summary: "Tags of published posts with counts", MinPosition: true, Conditional: true, Status: 200, Schema: "TagList", Errors: []int{503}},

	{Method: "GET", Path: "/api/v1/audit", Summary: "Every event in the system, newest first (auditor, admin)", Auth: "user", MinPosition: true, Query: []string{"actor", "type", "stream", "since", "until", "limit", "cursor"}, Status: 200, Schema: "AuditPage", Errors: []int{401, 403, 422, 503}},
	{Method: "GET", Path: "/api/v1/events", Summary: "The global log in order (auditor, admin)", Auth: "user", Query: []string{"after", "limit"}, Status: 200, Schema: "EventsPage", Errors: []int{401, 403, 422}},
	{Method: "GET", Path: "/api/v1/projections", Summary: "Projection checkpoints, lag and state (admin, auditor)", Auth: "user", Status: 200, Schema: "ProjectionList", Errors: []int{401, 403}},
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func obj(required []string, props map[string]any) map[string]any {
	o := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func arr(items any) map[string]any { return map[string]any{"type": "array", "items": items} }

var (
	str      = map[string]any{"type": "string"}
	strNull  = map[string]any{"type": []string{"string", "null"}}
	integer  = map[string]any{"type": "integer", "minimum": 0}
	boolean  = map[string]any{"type": "boolean"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	dtNull   = map[string]any{"type": []string{"string", "null"}, "format": "date-time"}
	strs     = arr(str)
	anyObj   = map[string]any{"type": "object"}
)

func page(item string) map[string]any {
	return obj([]string{"items", "next_cursor"}, map[string]any{"items": arr(ref(item)), "next_cursor": strNull})
}

func list(item string) map[string]any {
	return obj([]string{"items"}, map[string]any{"items": arr(ref(item))})
}

var userRefSchema = obj([]string{"id", "username", "display_name"}, map[string]any{"id": str, "username": str, "display_name": str})

func apiSchemas() map[string]any {
	postFields := map[string]any{"id": str, "slug": str, "title": str, "excerpt": str, "tags": strs, "status": ref("PostStatus"),
		"author": ref("UserRef"), "version": integer, "revision": integer, "created_at": dateTime, "updated_at": dateTime,
		"published_at": dtNull, "scheduled_for": dtNull, "feature_image": ref("FeatureImage")}
	full := map[string]any{"body": str, "body_html": str, "as_of": dateTime, "deleted_at": dtNull}
	for k, v := range postFields {
		full[k] = v
	}
	user := map[string]any{"id": str, "email": str, "username": str, "display_name": str, "bio": str, "role": ref("Role"),
		"status": map[string]any{"type": "string", "enum": []string{"active", "deactivated"}}, "created_at": dateTime,
		"avatar": ref("Avatar")}
	rawEvent := obj([]string{"id", "type", "version", "position", "recorded_at", "data", "metadata"}, map[string]any{"id": str, "stream_id": str, "type": str,
		"version": integer, "position": integer, "recorded_at": dateTime, "data": anyObj, "metadata": anyObj})
	return map[string]any{
		"Problem": obj([]string{"type", "title", "status", "code"}, map[string]any{
			"type": str, "title": str, "status": integer, "detail": str, "code": str, "request_id": str,
			"errors":          map[string]any{"type": "object", "additionalProperties": strs},
			"current_version": integer,
		}),
		"Role":       map[string]any{"type": "string", "enum": []string{"reader", "author", "editor", "auditor", "admin"}},
		"PostStatus": map[string]any{"type": "string", "enum": []string{"draft", "in_review", "scheduled", "published", "archived", "deleted"}},
		"UserRef":    userRefSchema,
		"Health":     obj([]string{"status"}, map[string]any{"status": str}),
		"Ready":      obj([]string{"ready", "checks"}, map[string]any{"ready": boolean, "checks": map[string]any{"type": "object", "additionalProperties": str}}),
		"RegisterRequest": obj([]string{"email", "username", "password", "display_name"}, map[string]any{
			"email": str, "username": str, "password": map[string]any{"type": "string", "format": "password"}, "display_name": str}),
		"LoginRequest":   obj([]string{"login", "password"}, map[string]any{"login": str, "password": map[string]any{"type": "string", "format": "password"}}),
		"RefreshRequest": obj(nil, map[string]any{"refresh_token": str}),
		"Session": obj([]string{"user", "token_type", "expires_in"}, map[string]any{"user": ref("Me"), "access_token": str, "refresh_token": str,
			"token_type": str, "expires_in": integer, "csrf_token": str, "position": integer}),
		"Me":                    obj([]string{"id", "email", "username", "display_name", "role", "status"}, mergeProps(user, map[string]any{"version": integer})),
		"User":                  obj([]string{"id", "email", "username", "display_name", "role", "status"}, mergeProps(user, map[string]any{"updated_at": dateTime})),
		"UserPage":              page("User"),
		"UserChange":            obj([]string{"user", "version", "position"}, map[string]any{"user": ref("Me"), "version": integer, "position": integer}),
		"ProfileRequest":        obj(nil, map[string]any{"display_name": str, "bio": str}),
		"PasswordRequest":       obj([]string{"current_password", "new_password"}, map[string]any{"current_password": str, "new_password": str}),
		"RoleRequest":           obj([]string{"role"}, map[string]any{"role": ref("Role")}),
		"DeactivateRequest":     obj(nil, map[string]any{"reason": str}),
		"DraftRequest":          obj([]string{"title", "body"}, map[string]any{"title": str, "body": str, "excerpt": str, "tags": strs, "slug": str}),
		"EditRequest":           obj(nil, map[string]any{"title": str, "body": str, "excerpt": str, "tags": strs, "note": str}),
		"SlugRequest":           obj([]string{"slug"}, map[string]any{"slug": str}),
		"RequestChangesRequest": obj(nil, map[string]any{"comment": str}),
		"ScheduleRequest":       obj([]string{"publish_at"}, map[string]any{"publish_at": dateTime}),
		"UnpublishRequest":      obj(nil, map[string]any{"reason": str}),
		"RevertRequest":         obj([]string{"revision"}, map[string]any{"revision": integer, "note": str}),
		"CommandResult":         obj([]string{"id", "slug", "version", "revision", "position"}, map[string]any{"id": str, "slug": str, "version": integer, "revision": integer, "position": integer}),
		"Post":                  obj([]string{"id", "slug", "title", "body", "tags", "status", "author", "version", "revision"}, full),
		"PostSummary":           obj([]string{"id", "slug", "title", "status", "author", "version"}, postFields),
		"PostPage":              page("PostSummary"),
		"Revision": obj([]string{"revision", "version", "title", "excerpt", "author", "editor", "at", "note", "size", "event_id"}, map[string]any{
			"post_id": str, "revision": integer, "version": integer, "kind": str, "reverted_from": integer, "title": str, "excerpt": str,
			"body": str, "tags": strs, "author": ref("UserRef"), "editor": ref("UserRef"), "at": dateTime, "note": str, "size": integer,
			"event_id": str, "position": integer}),
		"RevisionPage": page("Revision"),
		"FieldDiff":    obj([]string{"before", "after", "changed"}, map[string]any{"before": str, "after": str, "changed": boolean}),
		"Diff": obj([]string{"post_id", "from", "to", "title", "excerpt", "tags", "body"}, map[string]any{
			"post_id": str, "from": integer, "to": integer, "title": ref("FieldDiff"), "excerpt": ref("FieldDiff"),
			"tags": obj([]string{"added", "removed"}, map[string]any{"added": strs, "removed": strs}),
			"body": obj([]string{"changed", "hunks"}, map[string]any{"changed": boolean, "hunks": arr(ref("Hunk"))}),
		}),
		"Hunk": obj([]string{"old_start", "old_lines", "new_start", "new_lines", "lines"}, map[string]any{
			"old_start": integer, "old_lines": integer, "new_start": integer, "new_lines": integer,
			"lines": arr(obj([]string{"kind", "text"}, map[string]any{
				"kind": map[string]any{"type": "string", "enum": []string{"context", "delete", "insert"}}, "text": str,
				"segments": arr(obj([]string{"kind", "text"}, map[string]any{"kind": map[string]any{"type": "string", "enum": []string{"equal", "delete", "insert"}}, "text": str})),
			})),
		}),
		"HistoryEntry": obj([]string{"version", "type", "actor", "actor_role", "at", "correlation_id", "summary"}, map[string]any{
			"version": integer, "type": str, "actor": ref("UserRef"), "actor_role": str, "at": dateTime, "correlation_id": str,
			"causation_id": str, "summary": str, "event_id": str, "position": integer}),
		"HistoryList": list("HistoryEntry"),
		"RawEvent":    rawEvent,
		"EventList":   list("RawEvent"),
		"EventsPage":  obj([]string{"items", "next_after"}, map[string]any{"items": arr(ref("RawEvent")), "next_after": map[string]any{"type": []string{"integer", "null"}}}),
		"Tag":         obj([]string{"name", "count"}, map[string]any{"name": str, "count": integer}),
		"TagList":     list("Tag"),
		"AuditEntry": obj([]string{"position", "event_id", "stream_id", "type", "actor", "actor_role", "at"}, map[string]any{
			"position": integer, "event_id": str, "stream_id": str, "stream_version": integer, "type": str, "actor": ref("UserRef"),
			"actor_role": str, "correlation_id": str, "causation_id": str, "at": dateTime, "recorded_at": dateTime}),
		"AuditPage": page("AuditEntry"),
		"ProjectionStatus": obj([]string{"name", "position", "head_position", "lag_events", "lag_seconds", "state"}, map[string]any{
			"name": str, "position": integer, "head_position": integer, "lag_events": integer, "lag_seconds": map[string]any{"type": "number"},
			"state":      map[string]any{"type": "string", "enum": []string{"running", "idle", "failed", "stopped", "rebuilding"}},
			"last_error": str, "failed_position": integer, "failed_at": dateTime, "events_applied": integer, "rebuilt_at": dateTime, "updated_at": dateTime}),
		"ProjectionList": list("ProjectionStatus"),
		"Rendition": obj([]string{"name", "width", "height", "type", "url"}, map[string]any{
			"name": str, "width": integer, "height": integer, "type": str, "url": str}),
		"Media": obj([]string{"id", "hash", "type", "size", "width", "height", "alt", "uploader", "version", "created_at", "renditions", "srcset"}, map[string]any{
			"id": str, "hash": str, "type": str, "size": integer, "width": integer, "height": integer, "alt": str,
			"uploader": ref("UserRef"), "version": integer, "created_at": dateTime, "deleted": boolean, "deleted_at": dtNull,
			"renditions": arr(ref("Rendition")), "srcset": str, "position": integer}),
		"MediaPage":           page("Media"),
		"MediaUpload":         obj([]string{"file"}, map[string]any{"file": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}, "alt": str}),
		"AvatarUpload":        obj([]string{"file"}, map[string]any{"file": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}),
		"MediaAltRequest":     obj([]string{"alt"}, map[string]any{"alt": str}),
		"FeatureImageRequest": obj([]string{"media_id"}, map[string]any{"media_id": str, "alt": str}),
		"Avatar":              obj([]string{"media_id", "url", "srcset"}, map[string]any{"media_id": str, "url": str, "srcset": str}),
		"FeatureImage": obj([]string{"media_id", "alt", "url", "srcset", "width", "height"}, map[string]any{
			"media_id": str, "alt": str, "url": str, "srcset": str, "width": integer, "height": integer}),
		"AvatarChange": obj([]string{"user", "version", "position", "media"}, map[string]any{"user": ref("Me"), "version": integer, "position": integer, "media": ref("Media")}),
	}
}

func mergeProps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

var queryDocs = map[string]string{
	"limit": "page size (default 20, max 100; /events: default 100, max 1000)", "cursor": "opaque cursor from next_cursor",
	"tag": "exact tag", "author": "author's username", "q": "full-text query (web search syntax)", "status": "only this status",
	"as_of": "RFC 3339 time: the post as it was then", "version": "stream version: the post after that event",
	"from": "revision number", "to": "revision number", "actor": "actor id or username", "type": "event type (/media: MIME type, e.g. image/png)",
	"stream": "stream id, or a prefix ending in '-'", "since": "RFC 3339 time (inclusive)", "until": "RFC 3339 time (exclusive)",
	"after": "log position: events strictly after it", "role": "only this role",
	"uploader": "only this uploader's items (user id)",
}

// buildOpenAPI assembles the OpenAPI 3.1 document from apiOps.
func buildOpenAPI() map[string]any {
	paths := map[string]any{}
	for _, op := range apiOps {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		var params []any
		for _, seg := range strings.Split(op.Path, "/") {
			if strings.HasPrefix(seg, "{") {
				name := strings.Trim(seg, "{}")
				params = append(params, map[string]any{"name": name, "in": "path", "required": true, "schema": str})
			}
		}
		for _, q := range op.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": str, "description": queryDocs[q]})
		}
		if op.IfMatch {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": true, "schema": str,
				"description": `the resource's current version (its ETag), quoted: "3"; missing → 428, stale → 409 with current_version`})
		}
		if op.IfMatchOptional {
			params = append(params, map[string]any{"name": "If-Match", "in": "header", "required": false, "schema": str,
				"description": `optional: when sent, the current version (its ETag), quoted; stale → 409 with current_version`})
		}
		if op.Idempotent {
			params = append(params, map[string]any{"name": "Idempotency-Key", "in": "header", "required": false, "schema": str,
				"description": "a retry with the same key returns the first response (24 h)"})
		}
		if op.Conditional {
			params = append(params, map[string]any{"name": "If-None-Match", "in": "header", "required": false, "schema": str,
				"description": `entity tags from earlier ETag headers (a post's is its version, "3"); a match → 304 without a body. Responses are Cache-Control: no-cache (private when they depend on the caller)`})
		}
		if op.MinPosition {
			params = append(params, map[string]any{"name": "X-Min-Position", "in": "header", "required": false, "schema": str,
				"description": "wait (bounded) until the read model reached this log position; 503 + Retry-After past that"})
		}
		o := map[string]any{"summary": op.Summary, "operationId": operationID(op)}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Auth == "user" {
			o["security"] = []any{map[string]any{"bearerAuth": []string{}}, map[string]any{"cookieAuth": []string{}}}
		} else {
			o["security"] = []any{map[string]any{}, map[string]any{"bearerAuth": []string{}}, map[string]any{"cookieAuth": []string{}}}
		}
		if op.Body != "" {
			ct := "application/json"
			if op.Upload {
				ct = "multipart/form-data"
			}
			o["requestBody"] = map[string]any{"required": !op.BodyOptional, "content": map[string]any{ct: map[string]any{"schema": ref(op.Body)}}}
		}
		resp := map[string]any{}
		success := map[string]any{"description": http.StatusText(op.Status)}
		switch op.Schema {
		case "":
		case "text":
			success["content"] = map[string]any{"text/plain": map[string]any{"schema": str}}
		case "object":
			success["content"] = map[string]any{"application/json": map[string]any{"schema": anyObj}}
		case "image":
			bin := map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}
			success["content"] = map[string]any{media.TypeJPEG: bin, media.TypePNG: bin, media.TypeGIF: bin, media.TypeWebP: bin}
		default:
			success["content"] = map[string]any{"application/json": map[string]any{"schema": ref(op.Schema)}}
		}
		resp[strconv.Itoa(op.Status)] = success
		for st, desc := range op.More {
			more := map[string]any{"description": desc}
			if c, ok := success["content"]; ok {
				more["content"] = c
			}
			resp[strconv.Itoa(st)] = more
		}
		noBody := op.NoBody
		if op.Conditional && !slices.Contains(noBody, http.StatusNotModified) {
			noBody = append(slices.Clone(noBody), http.StatusNotModified)
		}
		for _, st := range noBody {
			resp[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st)}
		}
		errs := append([]int{}, op.Errors...)
		if strings.HasPrefix(op.Path, "/api/") {
			errs = append(errs, 500)
		}
		for _, st := range errs {
			resp[strconv.Itoa(st)] = map[string]any{"description": http.StatusText(st),
				"content": map[string]any{problemContentType: map[string]any{"schema": ref("Problem")}}}
		}
		o["responses"] = resp
		item[strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Palimpsest API", "version": "1",
			"description": "Event-sourced CMS. Errors are RFC 9457 application/problem+json with a stable code."},
		"servers": []any{map[string]any{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": apiSchemas(),
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"cookieAuth": map[string]any{"type": "apiKey", "in": "cookie", "name": accessCookie,
					"description": "browser session; unsafe requests also need X-CSRF-Token equal to the " + csrfCookie + " cookie"},
			},
		},
	}
}

func operationID(op apiOp) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.Method))
	for _, seg := range strings.Split(op.Path, "/") {
		seg = strings.Trim(seg, "{}")
		if seg == "" || seg == "api" || seg == "v1" {
			continue
		}
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

var (
	openAPIOnce sync.Once
	openAPIDoc  map[string]any
)

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() map[string]any {
	openAPIOnce.Do(func() { openAPIDoc = buildOpenAPI() })
	return openAPIDoc
}

// openAPIPaths lists "METHOD /path" of every documented operation, sorted.
func openAPIPaths() []string {
	out := make([]string, 0, len(apiOps))
	for _, op := range apiOps {
		out = append(out, op.Method+" "+op.Path)
	}
	sort.Strings(out)
	return out
}

// openAPI serves the document (GET /api/v1/openapi.json).
func (s *Server) openAPI(c *gin.Context) {
	c.JSON(http.StatusOK, OpenAPI())
}
