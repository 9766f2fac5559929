package httpapi

import (
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/http/ratelimit"
)

// rateLimited answers 429 with Retry-After and the problem code
// "rate_limited".
func (s *Server) rateLimited(c *gin.Context, retryAfter time.Duration, detail string) {
	c.Header("Retry-After", ratelimit.RetryAfter(retryAfter))
	s.fail(c, domain.Errorf(domain.KindRateLimited, "rate_limited", "%s", detail))
}
