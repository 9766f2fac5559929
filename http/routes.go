package httpapi

import (
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palimpsest-cms/palimpsest/domain"
)

// routes builds the Gin engine: release mode, gin.New (no default logger or
// recovery: ours log without secrets and answer problems), no trailing-slash
// redirects, problem responses for unknown routes and methods.
func (s *Server) routes() error {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return err
	}
	e.Use(requestIDMiddleware, s.observe, s.recoverMiddleware, securityHeaders, s.corsMiddleware, s.limitRequestBody)
	e.NoRoute(func(c *gin.Context) { s.fail(c, errNotFound) })
	e.NoMethod(func(c *gin.Context) { s.fail(c, errMethodNotAllowed) })

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})))
	// Media renditions are public and content-addressed (media.go).
	e.GET("/media/:hash/:file", s.serveMedia)
	e.HEAD("/media/:hash/:file", s.serveMedia)

	v1 := e.Group("/api/v1", s.authenticate)
	v1.GET("/openapi.json", s.openAPI)

	signedIn := s.requireSignedIn
	auditors := s.requireRole(domain.Role.CanAudit)
	idem := s.idempotent

	// Auth endpoints skip Idempotency-Key: their responses hold fresh
	// credentials, which must never be stored.
	v1.POST("/auth/register", s.register)
	v1.POST("/auth/login", s.login)
	v1.POST("/auth/refresh", s.refresh)
	v1.POST("/auth/logout", s.logout)
	v1.POST("/auth/logout-others", signedIn, s.logoutOthers)

	v1.GET("/me", signedIn, s.getMe)
	v1.PATCH("/me", signedIn, s.patchMe)
	v1.PUT("/me/password", signedIn, s.putPassword)
	v1.PUT("/me/avatar", signedIn, s.putAvatar)
	v1.GET("/users", auditors, s.listUsers)
	v1.GET("/users/:id", auditors, s.getUser)
	v1.PUT("/users/:id/role", signedIn, s.putRole)
	v1.POST("/users/:id/deactivate", signedIn, idem, s.deactivateUser)
	v1.POST("/users/:id/reactivate", signedIn, idem, s.reactivateUser)

	v1.POST("/posts", signedIn, idem, s.draftPost)
	v1.PATCH("/posts/:id", signedIn, s.editPost)
	v1.DELETE("/posts/:id", signedIn, s.deletePost)
	v1.PUT("/posts/:id/slug", signedIn, s.changeSlug)
	v1.POST("/posts/:id/submit", signedIn, idem, s.submitPost)
	v1.POST("/posts/:id/request-changes", signedIn, idem, s.requestChanges)
	v1.POST("/posts/:id/publish", signedIn, idem, s.publishPost)
	v1.POST("/posts/:id/schedule", signedIn, idem, s.schedulePost)
	v1.POST("/posts/:id/unpublish", signedIn, idem, s.unpublishPost)
	v1.POST("/posts/:id/archive", signedIn, idem, s.archivePost)
	v1.POST("/posts/:id/restore", signedIn, idem, s.restorePost)
	v1.POST("/posts/:id/revert", signedIn, idem, s.revertPost)
	v1.PUT("/posts/:id/feature-image", signedIn, s.putFeatureImage)

	v1.GET("/posts", s.listPosts)
	v1.GET("/posts/:id", s.getPost)
	v1.GET("/posts/:id/revisions", signedIn, s.listRevisions)
	v1.GET("/posts/:id/revisions/:n", signedIn, s.getRevision)
	v1.GET("/posts/:id/diff", signedIn, s.diffRevisions)
	v1.GET("/posts/:id/history", signedIn, s.listHistory)
	v1.GET("/posts/:id/events", auditors, s.postEvents)
	v1.GET("/tags", s.listTags)

	library := s.requireRole(canUseLibrary)
	v1.POST("/media", library, s.uploadMedia)
	v1.GET("/media", library, s.listMedia)
	v1.GET("/media/:id", library, s.getMedia)
	v1.PATCH("/media/:id", signedIn, s.patchMedia)
	v1.DELETE("/media/:id", signedIn, s.deleteMedia)

	v1.GET("/audit", auditors, s.listAudit)
	v1.GET("/events", auditors, s.listEvents)
	v1.GET("/projections", auditors, s.listProjections)

	s.engine = e
	return nil
}
