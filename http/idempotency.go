package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/postgres"
)

// idempotencyTTL is how long a key's stored response is replayed.
const idempotencyTTL = 24 * time.Hour

// replayedHeaders are the response headers stored with an idempotent response.
var replayedHeaders = []string{"Content-Type", "Location", "ETag", "X-Event-Position"}

// captureWriter tees the response body into a buffer.
type captureWriter struct {
	gin.ResponseWriter
	buf bytes.Buffer
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *captureWriter) WriteString(s string) (int, error) {
	w.buf.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}

// idempotent makes a POST with an Idempotency-Key execute at most once per
// (caller, key): the first request claims the key with a pending row, its
// response (status < 500, except 429) is stored for 24 h and replayed to
// retries; a retry with a different method, path or body is a 422
// idempotency_key_reused; a retry while the first is still running is a 409
// idempotency_in_progress with Retry-After. Keys are scoped per user
// (anonymous callers share the "" scope).
func (s *Server) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	if len(key) > 255 || !printableASCII(key) {
		s.fail(c, domain.Invalid("invalid_idempotency_key", "the Idempotency-Key header is invalid",
			map[string][]string{"Idempotency-Key": {"must be 1..255 printable ASCII characters"}}))
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			s.fail(c, errTooLarge)
			return
		}
		s.fail(c, domain.Wrap(err, domain.KindInvalid, "malformed_json", "the request body could not be read"))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	h := sha256.New()
	h.Write([]byte(c.Request.Method + " " + c.Request.URL.RequestURI() + "\n" + c.ContentType() + "\n"))
	h.Write(body)
	sum := h.Sum(nil)
	userID := actorOf(c).ID
	ctx := c.Request.Context()
	now := s.cfg.Now()
	s.maybePurge(ctx, now)
	rec := postgres.IdempotencyRecord{UserID: userID, Key: key, Method: c.Request.Method, Path: c.Request.URL.RequestURI(),
		RequestHash: sum, ExpiresAt: now.Add(idempotencyTTL)}
	existing, err := s.auth.BeginIdempotent(ctx, rec, now)
	if err != nil {
		s.fail(c, err)
		return
	}
	if existing != nil {
		switch {
		case existing.Method != rec.Method || existing.Path != rec.Path || !bytes.Equal(existing.RequestHash, sum):
			s.fail(c, domain.Errorf(domain.KindInvalid, "idempotency_key_reused", "this Idempotency-Key was used with a different request"))
		case existing.Status == 0:
			c.Header("Retry-After", "1")
			s.fail(c, domain.Errorf(domain.KindConflict, "idempotency_in_progress", "a request with this Idempotency-Key is still being processed"))
		default:
			for k, v := range existing.Headers {
				c.Header(k, v)
			}
			c.Header("Idempotent-Replayed", "true")
			c.Abort()
			c.Status(existing.Status)
			_, _ = c.Writer.Write(existing.Body)
		}
		return
	}
	cw := &captureWriter{ResponseWriter: c.Writer}
	c.Writer = cw
	completed := false
	defer func() {
		c.Writer = cw.ResponseWriter
		if completed {
			return
		}
		// Panicked or failed to store: free the key so a retry executes.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.auth.AbandonIdempotent(bg, userID, key); err != nil {
			s.log.ErrorContext(ctx, "abandon idempotency key", slog.String("request_id", requestID(c)), slog.Any("error", err))
		}
	}()
	c.Next()
	status := cw.Status()
	if status >= 500 || status == http.StatusTooManyRequests {
		return
	}
	headers := make(map[string]string, len(replayedHeaders))
	for _, k := range replayedHeaders {
		if v := cw.Header().Get(k); v != "" {
			headers[k] = v
		}
	}
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.auth.CompleteIdempotent(bg, userID, key, status, headers, cw.buf.Bytes()); err != nil {
		s.log.ErrorContext(ctx, "store idempotent response", slog.String("request_id", requestID(c)), slog.Any("error", err))
		return
	}
	completed = true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// purgeInterval is how often expired idempotency keys and refresh tokens
// are deleted, piggybacking on idempotent requests.
const purgeInterval = 10 * time.Minute

// maybePurge deletes expired auth rows in the background at most once per
// purgeInterval per node.
func (s *Server) maybePurge(ctx context.Context, now time.Time) {
	last := s.lastPurge.Load()
	if now.UnixNano()-last < int64(purgeInterval) || !s.lastPurge.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	go func() {
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := s.auth.PurgeExpired(bg, now); err != nil {
			s.log.Warn("purge expired auth rows", slog.Any("error", err))
		}
	}()
}
