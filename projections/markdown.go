package projections

import (
	"bytes"
	"html"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders post bodies: goldmark with GitHub-flavoured extensions,
// then bluemonday's UGC policy, so <script>, event-handler attributes and
// javascript: URLs never reach the read tables.
var (
	markdownEngine = goldmark.New(goldmark.WithExtensions(extension.GFM))
	htmlPolicy     = bluemonday.UGCPolicy()
	renderBufs     = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// RenderMarkdown renders src (CommonMark + GFM) to sanitized HTML. Raw HTML in
// src is dropped by the renderer and anything unsafe that slips through is
// removed by the sanitizer. A body that fails to render yields its escaped
// text, so a projection never stops on user content.
func RenderMarkdown(src string) string {
	if src == "" {
		return ""
	}
	buf := renderBufs.Get().(*bytes.Buffer)
	defer func() {
		buf.Reset()
		renderBufs.Put(buf)
	}()
	if err := markdownEngine.Convert([]byte(src), buf); err != nil {
		buf.Reset()
		buf.WriteString("<p>")
		buf.WriteString(html.EscapeString(src))
		buf.WriteString("</p>")
	}
	return htmlPolicy.SanitizeReader(buf).String()
}
