package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// Problem is an RFC 9457 problem details document with Palimpsest's stable
// code and per-field errors.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Code      string              `json:"code"`
	Errors    map[string][]string `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	// CurrentVersion is set on version conflicts.
	CurrentVersion *uint64 `json:"current_version,omitempty"`
}

// problemContentType is the media type of error responses.
const problemContentType = "application/problem+json"

// problemTypeBase prefixes a problem's code to form its type URI.
const problemTypeBase = "https://palimpsest-cms.org/problems/"

// kindStatus is THE table mapping domain error kinds to HTTP statuses.
var kindStatus = map[domain.Kind]int{
	domain.KindInternal:        http.StatusInternalServerError,
	domain.KindInvalid:         http.StatusUnprocessableEntity,
	domain.KindNotFound:        http.StatusNotFound,
	domain.KindConflict:        http.StatusConflict,
	domain.KindForbidden:       http.StatusForbidden,
	domain.KindUnauthenticated: http.StatusUnauthorized,
	domain.KindPrecondition:    http.StatusPreconditionRequired,
	domain.KindTooLarge:        http.StatusRequestEntityTooLarge,
	domain.KindRateLimited:     http.StatusTooManyRequests,
	domain.KindUnavailable:     http.StatusServiceUnavailable,
}

// Errors that are not domain errors of a command but of the HTTP exchange.
var (
	errMalformedJSON        = domain.Errorf(domain.KindInvalid, "malformed_json", "the request body is not valid JSON of the expected shape")
	errUnsupportedMediaType = domain.Errorf(domain.KindInvalid, "unsupported_media_type", "the request body must be application/json")
	errTooLarge             = domain.Errorf(domain.KindTooLarge, "too_large", "the request body is too large")
	errUnauthenticated      = domain.Errorf(domain.KindUnauthenticated, "unauthenticated", "sign in first")
	errInvalidToken         = domain.Errorf(domain.KindUnauthenticated, "invalid_token", "the access token is invalid or expired")
	errForbidden            = domain.Errorf(domain.KindForbidden, "forbidden_role", "your role does not allow this")
	errCSRF                 = domain.Errorf(domain.KindForbidden, "csrf_failed", "missing or wrong CSRF token")
	errPreconditionRequired = domain.Errorf(domain.KindPrecondition, "precondition_required", `send If-Match: "<version>" with changes to a post`)
	errNotFound             = domain.Errorf(domain.KindNotFound, "not_found", "no such resource")
	errMethodNotAllowed     = domain.Errorf(domain.KindInvalid, "method_not_allowed", "the method is not allowed on this resource")
	errProjectionLag        = domain.Errorf(domain.KindUnavailable, "projection_lag", "the read model has not reached the requested position yet; retry")
)

// statusOverride lets the two HTTP-only codes keep their own status while
// staying KindInvalid in the domain taxonomy.
var statusOverride = map[string]int{
	"malformed_json":         http.StatusBadRequest,
	"unsupported_media_type": http.StatusUnsupportedMediaType,
	"method_not_allowed":     http.StatusMethodNotAllowed,
}

// statusOf returns the HTTP status for err.
func statusOf(err error) int {
	var de *domain.Error
	if !errors.As(err, &de) {
		return http.StatusInternalServerError
	}
	if s, ok := statusOverride[de.Code]; ok {
		return s
	}
	if s, ok := kindStatus[de.Kind]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// problemFor builds the problem document for err. Internal errors never
// reveal their cause.
func problemFor(err error, requestID string) Problem {
	status := statusOf(err)
	p := Problem{Status: status, Title: http.StatusText(status), RequestID: requestID}
	var de *domain.Error
	if status == http.StatusInternalServerError || !errors.As(err, &de) {
		p.Code = "internal"
		p.Detail = "internal error"
		p.Type = problemTypeBase + p.Code
		return p
	}
	p.Code = de.Code
	p.Detail = de.Message
	p.Errors = de.Fields
	p.Type = problemTypeBase + de.Code
	if v, ok := de.Detail["current_version"]; ok {
		if n, ok := toUint64(v); ok {
			p.CurrentVersion = &n
		}
	}
	return p
}

func toUint64(v any) (uint64, bool) {
	switch n := v.(type) {
	case uint64:
		return n, true
	case int:
		return uint64(n), n >= 0
	case int64:
		return uint64(n), n >= 0
	case uint32:
		return uint64(n), true
	case float64:
		return uint64(n), n >= 0
	}
	return 0, false
}

// fail writes err as a problem response and aborts the chain. Internal
// errors are logged with the request id; the body says only "internal error".
func (s *Server) fail(c *gin.Context, err error) {
	rid := requestID(c)
	p := problemFor(err, rid)
	if p.Status == http.StatusInternalServerError {
		s.log.ErrorContext(c.Request.Context(), "request failed", slog.String("request_id", rid),
			slog.String("method", c.Request.Method), slog.String("route", c.FullPath()), slog.Any("error", err))
	}
	switch p.Status {
	case http.StatusUnauthorized:
		// RFC 6750 §3: tell clients which scheme to use.
		c.Header("WWW-Authenticate", `Bearer realm="palimpsest"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if c.Writer.Header().Get("Retry-After") == "" {
			c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(err)))
		}
	}
	writeProblem(c, p)
}

func writeProblem(c *gin.Context, p Problem) {
	c.Header("Content-Type", problemContentType)
	c.Header("Cache-Control", "no-store")
	c.Abort()
	c.Status(p.Status)
	// The problem body is plain data; encoding cannot fail.
	c.Render(p.Status, problemRender{p})
}

// retryAfterSeconds takes a "retry_after" detail (seconds) from err when present.
func retryAfterSeconds(err error) int {
	var de *domain.Error
	if errors.As(err, &de) {
		if v, ok := de.Detail["retry_after"]; ok {
			if n, ok := toUint64(v); ok && n > 0 {
				return int(n)
			}
		}
	}
	return 1
}

// problemRender renders a Problem with the problem+json media type.
type problemRender struct{ p Problem }

// Render implements render.Render.
func (r problemRender) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return json.NewEncoder(w).Encode(r.p)
}

// WriteContentType implements render.Render.
func (r problemRender) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", problemContentType)
}
