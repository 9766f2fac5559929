package web

import (
	"context"
	"encoding/xml"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/palimpsest-cms/palimpsest/domain"
	"github.com/palimpsest-cms/palimpsest/media"
	"github.com/palimpsest-cms/palimpsest/queries"
)

// picture is a feature image as the public pages show it: a src, a srcset
// of the width renditions and a thumbnail.
type picture struct {
	Src    string
	Srcset string
	Thumb  string
	Alt    string
	Width  int
	Height int
}

// srcsetRenditions are the renditions offered in a srcset, narrowest first.
var srcsetRenditions = []string{media.RenditionW320, media.RenditionW640, media.RenditionW1280}

// newPicture describes l, or returns nil when its renditions are unknown
// (the media projection has not seen the item yet).
func newPicture(l queries.MediaLink) *picture {
	pic := &picture{Alt: l.Alt, Thumb: mediaURL(l.Hash, l.Renditions, media.RenditionThumb)}
	var set []string
	srcName := ""
	for _, name := range srcsetRenditions {
		u := mediaURL(l.Hash, l.Renditions, name)
		if u == "" {
			continue
		}
		i := slices.IndexFunc(l.Renditions, func(r queries.MediaRendition) bool { return r.Name == name })
		r := l.Renditions[i]
		set = append(set, u+" "+strconv.Itoa(r.Width)+"w")
		// The src is w640, else the widest of the set.
		if srcName != media.RenditionW640 {
			pic.Src, pic.Width, pic.Height, srcName = u, r.Width, r.Height, name
		}
	}
	pic.Srcset = strings.Join(set, ", ")
	if pic.Src == "" {
		pic.Src = pic.Thumb
	}
	if pic.Src == "" {
		return nil
	}
	if pic.Thumb == "" {
		pic.Thumb = pic.Src
	}
	return pic
}

// postCard is a listed post with its feature image (nil when none). Post
// is a named field, not embedded: text/template resolves fields of structs
// with embedded fields through a much slower reflective search.
type postCard struct {
	Post  queries.PostSummary
	Image *picture
}

// featureImages returns the feature images of posts by post ID, empty when
// the reader does not keep them.
func (ui *UI) featureImages(ctx context.Context, postIDs []string) (map[string]*picture, error) {
	out := map[string]*picture{}
	finder, ok := ui.cfg.Reader.(queries.MediaLinkFinder)
	if !ok || len(postIDs) == 0 {
		return out, nil
	}
	links, err := finder.FeatureImages(ctx, postIDs)
	if err != nil {
		return nil, fmt.Errorf("read feature images: %w", err)
	}
	for id, l := range links {
		if pic := newPicture(l); pic != nil {
			out[id] = pic
		}
	}
	return out, nil
}

// listPage builds a public list of published posts: the page of f at the
// request's cursor with their feature images, and the tag cloud.
func (ui *UI) listPage(ctx context.Context, c *gin.Context, title, heading string, f queries.PostFilter, extra map[string]any) (*page, error) {
	f.Limit = ui.cfg.PageSize
	f.Cursor = c.Query("cursor")
	pg, err := ui.cfg.Reader.ListPosts(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(pg.Items))
	for i, s := range pg.Items {
		ids[i] = s.ID
	}
	images, err := ui.featureImages(ctx, ids)
	if err != nil {
		return nil, err
	}
	cards := make([]postCard, len(pg.Items))
	for i, s := range pg.Items {
		cards[i] = postCard{Post: s, Image: images[s.ID]}
	}
	p := ui.newPage(c, title)
	p.Data["Heading"] = heading
	p.Data["Posts"] = cards
	if pg.NextCursor != nil {
		// Only the parameters the list reads: the link is the same for
		// every visitor of the canonical URL (cache.go).
		q := url.Values{"cursor": {*pg.NextCursor}}
		if f.Q != "" {
			q.Set("q", f.Q)
		}
		p.Data["Next"] = c.Request.URL.Path + "?" + q.Encode()
	}
	p.Data["Paged"] = f.Cursor != ""
	p.Q = f.Q
	for k, v := range extra {
		p.Data[k] = v
	}
	if tags, err := ui.cfg.Reader.ListTags(ctx); err == nil {
		if len(tags) > 20 {
			tags = tags[:20]
		}
		p.Data["Tags"] = tags
	}
	return p, nil
}

func (ui *UI) home(c *gin.Context) {
	ui.servePublic(c, func(ctx context.Context) (string, *page, error) {
		p, err := ui.listPage(ctx, c, "", "Latest posts", queries.PostFilter{}, nil)
		return "home", p, err
	})
}

func (ui *UI) tag(c *gin.Context) {
	tag := c.Param("tag")
	ui.servePublic(c, func(ctx context.Context) (string, *page, error) {
		p, err := ui.listPage(ctx, c, "Tag: "+tag, "Posts tagged “"+tag+"”", queries.PostFilter{Tag: tag}, nil)
		return "home", p, err
	})
}

func (ui *UI) author(c *gin.Context) {
	ui.servePublic(c, func(ctx context.Context) (string, *page, error) {
		u, err := ui.cfg.Reader.GetUser(ctx, c.Param("username"))
		if err != nil {
			return "", nil, err
		}
		name := u.DisplayName
		if name == "" {
			name = u.Username
		}
		p, err := ui.listPage(ctx, c, name, "Posts by "+name, queries.PostFilter{Author: u.Username},
			map[string]any{"Author": queries.UserRef{ID: u.ID, Username: u.Username, DisplayName: u.DisplayName}, "Bio": u.Bio})
		return "home", p, err
	})
}

// search renders search results per request: queries are free text, so
// caching them would mostly churn the cache of the pages above.
func (ui *UI) search(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	if q == "" {
		p := ui.newPage(c, "Search")
		p.Data["Heading"] = "Search"
		p.Data["Search"] = true
		ui.render(c, http.StatusOK, "home", p)
		return
	}
	p, err := ui.listPage(c.Request.Context(), c, "Search: "+q, "Results for “"+q+"”", queries.PostFilter{Q: q},
		map[string]any{"Search": true, "Q": q})
	if err != nil {
		ui.fail(c, err)
		return
	}
	ui.render(c, http.StatusOK, "home", p)
}

// canSeePost reports whether actor may see p: published posts are public;
// other statuses only to their author and to readers of everything.
func canSeePost(a domain.Actor, status domain.PostStatus, authorID string) bool {
	if status == domain.StatusPublished {
		return true
	}
	if a.Anonymous() {
		return false
	}
	return a.Role.CanReadAll() || (a.ID == authorID && status != domain.StatusDeleted)
}

func (ui *UI) post(c *gin.Context) {
	ui.servePublic(c, func(ctx context.Context) (string, *page, error) {
		post, err := ui.cfg.Reader.GetPost(ctx, c.Param("slug"))
		if err != nil {
			return "", nil, err
		}
		actor := actorOf(c)
		if !canSeePost(actor, post.Status, post.Author.ID) {
			return "", nil, &domain.Error{Kind: domain.KindNotFound, Code: "post_not_found"}
		}
		images, err := ui.featureImages(ctx, []string{post.ID})
		if err != nil {
			return "", nil, err
		}
		p := ui.newPage(c, post.Title)
		p.Data["Post"] = post
		p.Data["Image"] = images[post.ID]
		// body_html was sanitized by the projection (goldmark + bluemonday).
		p.Data["Body"] = template.HTML(post.BodyHTML) //nolint:gosec // sanitized on write
		p.Data["CanEdit"] = actor.Role.CanEditAnyPost() || (actor.Role.CanWritePosts() && actor.ID == post.Author.ID)
		p.Data["CanHistory"] = actor.Role.CanReadAll() || (!actor.Anonymous() && actor.ID == post.Author.ID)
		return "post", p, nil
	})
}

// rss is an RSS 2.0 document.
type rss struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Atom    string     `xml:"xmlns:atom,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title       string    `xml:"title"`
	Link        string    `xml:"link"`
	Description string    `xml:"description"`
	Self        rssLink   `xml:"atom:link"`
	LastBuild   string    `xml:"lastBuildDate,omitempty"`
	Items       []rssItem `xml:"item"`
}

type rssLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
}

type rssItem struct {
	Title       string   `xml:"title"`
	Link        string   `xml:"link"`
	GUID        rssGUID  `xml:"guid"`
	PubDate     string   `xml:"pubDate"`
	Description string   `xml:"description"`
	Categories  []string `xml:"category"`
}

type rssGUID struct {
	IsPermaLink bool   `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

// feed serves the latest published posts as RSS 2.0.
func (ui *UI) feed(c *gin.Context) {
	ui.serveDocument(c, "application/rss+xml; charset=utf-8", ui.buildFeed)
}

func (ui *UI) buildFeed(ctx context.Context) ([]byte, error) {
	pg, err := ui.cfg.Reader.ListPosts(ctx, queries.PostFilter{Limit: 20})
	if err != nil {
		return nil, err
	}
	base := ui.cfg.BaseURL
	doc := rss{Version: "2.0", Atom: "http://www.w3.org/2005/Atom", Channel: rssChannel{
		Title: ui.cfg.SiteName, Link: base + "/", Description: "Latest posts on " + ui.cfg.SiteName,
		Self: rssLink{Href: base + "/feed.xml", Rel: "self", Type: "application/rss+xml"},
	}}
	for i, s := range pg.Items {
		at := s.UpdatedAt
		if s.PublishedAt != nil {
			at = *s.PublishedAt
		}
		if i == 0 {
			doc.Channel.LastBuild = at.UTC().Format(time.RFC1123Z)
		}
		doc.Channel.Items = append(doc.Channel.Items, rssItem{
			Title: s.Title, Link: base + "/posts/" + s.Slug, GUID: rssGUID{Value: "urn:uuid:" + s.ID},
			PubDate: at.UTC().Format(time.RFC1123Z), Description: s.Excerpt, Categories: s.Tags,
		})
	}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode feed: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}

type urlSet struct {
	XMLName xml.Name     `xml:"urlset"`
	XMLNS   string       `xml:"xmlns,attr"`
	URLs    []sitemapURL `xml:"url"`
}

type sitemapURL struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod,omitempty"`
}

// maxSitemapURLs bounds one sitemap file (the protocol allows 50,000).
const maxSitemapURLs = 50_000

// sitemap lists the home page and every published post.
func (ui *UI) sitemap(c *gin.Context) {
	ui.serveDocument(c, "application/xml; charset=utf-8", ui.buildSitemap)
}

func (ui *UI) buildSitemap(ctx context.Context) ([]byte, error) {
	base := ui.cfg.BaseURL
	set := urlSet{XMLNS: "http://www.sitemaps.org/schemas/sitemap/0.9", URLs: []sitemapURL{{Loc: base + "/"}}}
	f := queries.PostFilter{Limit: queries.MaxLimit}
	for len(set.URLs) < maxSitemapURLs {
		pg, err := ui.cfg.Reader.ListPosts(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, s := range pg.Items {
			set.URLs = append(set.URLs, sitemapURL{Loc: base + "/posts/" + s.Slug, LastMod: s.UpdatedAt.UTC().Format("2006-01-02")})
		}
		if pg.NextCursor == nil {
			break
		}
		f.Cursor = *pg.NextCursor
	}
	out, err := xml.MarshalIndent(set, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode sitemap: %w", err)
	}
	return append([]byte(xml.Header), out...), nil
}
