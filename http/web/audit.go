package web

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/commands"
	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// maxCSVRows bounds one audit export.
const maxCSVRows = 100_000

// auditFilter reads the audit filters of c's query.
func auditFilter(c *gin.Context) (queries.AuditFilter, error) {
	f := queries.AuditFilter{Actor: strings.TrimSpace(c.Query("actor")), Type: strings.TrimSpace(c.Query("type")),
		Stream: strings.TrimSpace(c.Query("stream")), Cursor: c.Query("cursor")}
	for _, tf := range []struct {
		key string
		dst **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := c.Query(tf.key)
		if v == "" {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02T15:04", v, time.UTC)
		if err != nil {
			return f, domain.Invalid("invalid_time", "Times must be given as date and time (UTC).", map[string][]string{tf.key: {"must be a date and time"}})
		}
		*tf.dst = &t
	}
	return f, nil
}

func (ui *UI) auditLog(c *gin.Context) {
	f, err := auditFilter(c)
	if err != nil {
		ui.fail(c, err)
		return
	}
	f.Limit = 50
	pg, err := ui.cfg.Reader.ListAudit(c.Request.Context(), f)
	if err != nil {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "Audit log")
	p.MainWide = true
	p.Data["Entries"] = pg.Items
	q := c.Request.URL.Query()
	q.Del("cursor")
	q.Del("msg")
	p.Data["Export"] = "/audit/export.csv?" + q.Encode()
	if pg.NextCursor != nil {
		q.Set("cursor", *pg.NextCursor)
		p.Data["Next"] = "/audit?" + q.Encode()
	}
	p.Data["F"] = map[string]string{"actor": c.Query("actor"), "type": c.Query("type"), "stream": c.Query("stream"),
		"since": c.Query("since"), "until": c.Query("until")}
	ui.render(c, http.StatusOK, "audit", p)
}

// auditCSV exports the filtered audit log, newest first.
func (ui *UI) auditCSV(c *gin.Context) {
	f, err := auditFilter(c)
	if err != nil {
		ui.fail(c, err)
		return
	}
	f.Limit, f.Cursor = queries.MaxLimit, ""
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"position", "occurred_at", "recorded_at", "type", "stream_id", "stream_version",
		"actor_id", "actor_username", "actor_role", "correlation_id", "causation_id", "event_id"})
	rows := 0
	for rows < maxCSVRows {
		pg, err := ui.cfg.Reader.ListAudit(c.Request.Context(), f)
		if err != nil {
			ui.fail(c, err)
			return
		}
		for _, e := range pg.Items {
			_ = w.Write([]string{strconv.FormatUint(e.Position, 10), e.At.UTC().Format(time.RFC3339Nano),
				e.RecordedAt.UTC().Format(time.RFC3339Nano), e.Type, e.StreamID, strconv.FormatUint(e.StreamVersion, 10),
				e.Actor.ID, e.Actor.Username, string(e.ActorRole), e.CorrelationID, e.CausationID, e.EventID})
			rows++
		}
		if pg.NextCursor == nil {
			break
		}
		f.Cursor = *pg.NextCursor
	}
	w.Flush()
	if err := w.Error(); err != nil {
		ui.fail(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="audit-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

// rawEvent is a stored event with its payload pretty-printed.
type rawEvent struct {
	commands.StoredEvent
	Pretty string
	Actor  queries.UserRef
}

func (ui *UI) postEvents(c *gin.Context) {
	ctx := c.Request.Context()
	events, err := ui.cfg.Commands.PostEvents(ctx, c.Param("id"))
	if err != nil {
		ui.fail(c, err)
		return
	}
	names := map[string]queries.UserRef{}
	out := make([]rawEvent, len(events))
	for i, e := range events {
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, e.Data, "", "  "); err != nil {
			pretty.Reset()
			pretty.Write(e.Data)
		}
		ref, ok := names[e.Metadata.ActorID]
		if !ok {
			ref = ui.userRef(ctx, e.Metadata.ActorID)
			names[e.Metadata.ActorID] = ref
		}
		out[i] = rawEvent{StoredEvent: e, Pretty: pretty.String(), Actor: ref}
	}
	p := ui.newPage(c, "Raw events")
	p.MainWide = true
	p.Data["Events"] = out
	p.Data["PostID"] = c.Param("id")
	if post, err := ui.cfg.Reader.GetPost(ctx, c.Param("id")); err == nil {
		p.Data["Post"] = post
	}
	ui.render(c, http.StatusOK, "events", p)
}

func (ui *UI) users(c *gin.Context) {
	f := queries.UserFilter{Q: strings.TrimSpace(c.Query("q")), Role: domain.Role(c.Query("role")), Cursor: c.Query("cursor"), Limit: 50}
	pg, err := ui.cfg.Reader.ListUsers(c.Request.Context(), f)
	if err != nil {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "Users")
	p.MainWide = true
	p.Data["Users"] = pg.Items
	p.Data["Roles"] = domain.Roles
	p.Data["Q"], p.Data["Role"] = f.Q, string(f.Role)
	if pg.NextCursor != nil {
		q := c.Request.URL.Query()
		q.Set("cursor", *pg.NextCursor)
		q.Del("msg")
		p.Data["Next"] = "/admin/users?" + q.Encode()
	}
	ui.render(c, http.StatusOK, "users", p)
}

// userCommand runs an admin command on a user and returns to the list.
func (ui *UI) userCommand(c *gin.Context, msg string, run func(m commands.Meta, id string) (commands.Result, error)) {
	res, err := run(ui.meta(c), c.Param("id"))
	if err != nil {
		if m, ok := userMessage(err); ok {
			ui.renderError(c, statusOf(domain.KindOf(err)), m)
			return
		}
		ui.fail(c, err)
		return
	}
	ui.wait(c.Request.Context(), res.Position)
	redirect(c, "/admin/users", msg)
}

func (ui *UI) changeRole(c *gin.Context) {
	ui.userCommand(c, "role", func(m commands.Meta, id string) (commands.Result, error) {
		return ui.cfg.Commands.ChangeRole(c.Request.Context(), m, commands.ChangeRole{UserID: id, Role: domain.Role(c.PostForm("role"))})
	})
}

func (ui *UI) deactivate(c *gin.Context) {
	ui.userCommand(c, "deactivated", func(m commands.Meta, id string) (commands.Result, error) {
		return ui.cfg.Commands.DeactivateUser(c.Request.Context(), m, commands.DeactivateUser{UserID: id, Reason: strings.TrimSpace(c.PostForm("reason"))})
	})
}

func (ui *UI) reactivate(c *gin.Context) {
	ui.userCommand(c, "reactivated", func(m commands.Meta, id string) (commands.Result, error) {
		return ui.cfg.Commands.ReactivateUser(c.Request.Context(), m, id)
	})
}

func (ui *UI) projectionStatus(c *gin.Context) {
	if ui.cfg.ProjectionStatus == nil {
		ui.renderError(c, http.StatusNotFound, "")
		return
	}
	st, err := ui.cfg.ProjectionStatus(c.Request.Context())
	if err != nil {
		ui.fail(c, err)
		return
	}
	p := ui.newPage(c, "Projections")
	p.MainWide = true
	p.Data["Projections"] = st
	ui.render(c, http.StatusOK, "projections", p)
}
