package httpapi

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/palimpsest-cms/palimpsest/domain"
)

func TestProblemMapping(t *testing.T) {
	t.Parallel()
	secret := errors.New("pq: password authentication failed for user cms at 10.0.0.5")
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"plain error", secret, 500, "internal"},
		{"internal kind", domain.Wrap(secret, domain.KindInternal, "db_down", "database down"), 500, "internal"},
		{"invalid", domain.Invalid("invalid_post", "bad", map[string][]string{"title": {"required"}}), 422, "invalid_post"},
		{"not found", domain.Errorf(domain.KindNotFound, "post_not_found", "x"), 404, "post_not_found"},
		{"conflict", &domain.Error{Kind: domain.KindConflict, Code: "version_conflict", Detail: map[string]any{"current_version": uint64(7)}}, 409, "version_conflict"},
		{"forbidden", domain.Errorf(domain.KindForbidden, "not_owner", "x"), 403, "not_owner"},
		{"unauthenticated", domain.Errorf(domain.KindUnauthenticated, "invalid_credentials", "x"), 401, "invalid_credentials"},
		{"precondition", errPreconditionRequired, 428, "precondition_required"},
		{"too large", errTooLarge, 413, "too_large"},
		{"rate limited", domain.Errorf(domain.KindRateLimited, "rate_limited", "x"), 429, "rate_limited"},
		{"unavailable", errProjectionLag, 503, "projection_lag"},
		{"malformed", errMalformedJSON, 400, "malformed_json"},
		{"media type", errUnsupportedMediaType, 415, "unsupported_media_type"},
		{"wrapped", fmt.Errorf("edit post: %w", domain.Errorf(domain.KindNotFound, "post_not_found", "x")), 404, "post_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := problemFor(tt.err, "rid")
			if p.Status != tt.status || p.Code != tt.code || p.RequestID != "rid" || !strings.HasSuffix(p.Type, tt.code) {
				t.Fatalf("problem %+v, want %d %s", p, tt.status, tt.code)
			}
			if tt.status == 500 && (p.Detail != "internal error" || strings.Contains(fmt.Sprintf("%+v", p), "password")) {
				t.Fatalf("internal problem leaks: %+v", p)
			}
			if tt.code == "version_conflict" && (p.CurrentVersion == nil || *p.CurrentVersion != 7) {
				t.Fatalf("current_version: %+v", p)
			}
		})
	}
	// Every kind has a status in the one table.
	for k := domain.KindInternal; k <= domain.KindUnavailable; k++ {
		if _, ok := kindStatus[k]; !ok {
			t.Errorf("kind %s has no status", k)
		}
	}
}
