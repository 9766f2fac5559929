package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	var routes []string
	for _, r := range e.srv.Routes() {
		parts := strings.Split(r.Path, "/")
		for i, p := range parts {
			if strings.HasPrefix(p, ":") || strings.HasPrefix(p, "*") {
				parts[i] = "{" + p[1:] + "}"
			}
		}
		routes = append(routes, r.Method+" "+strings.Join(parts, "/"))
	}
	sort.Strings(routes)
	documented := openAPIPaths()
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not described in the OpenAPI document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("OpenAPI describes %s, which the router does not serve", d)
		}
	}
	// The served document is valid JSON with every path and the security schemes.
	r := e.must(200, req{Method: "GET", Path: "/api/v1/openapi.json"})
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas         map[string]any `json:"schemas"`
			SecuritySchemes map[string]any `json:"securitySchemes"`
		} `json:"components"`
	}
	r.json(t, &doc)
	if doc.OpenAPI != "3.1.0" || doc.Components.Schemas["Problem"] == nil || doc.Components.SecuritySchemes["bearerAuth"] == nil {
		t.Fatalf("document head: %s", r.Body[:200])
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != len(routes) {
		t.Fatalf("document has %d operations, router %d", n, len(routes))
	}
	// Every $ref resolves.
	for _, ref := range findRefs(OpenAPI()) {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if doc.Components.Schemas[name] == nil {
			t.Errorf("dangling $ref %s", ref)
		}
	}
}

func findRefs(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if k == "$ref" {
				out = append(out, vv.(string))
				continue
			}
			out = append(out, findRefs(vv)...)
		}
	case []any:
		for _, vv := range x {
			out = append(out, findRefs(vv)...)
		}
	}
	return out
}

// conform checks v against a schema of the document: required properties
// present and JSON types right, recursively through $refs, objects and arrays.
func conform(schemas map[string]any, schema map[string]any, v any, path string) error {
	if ref, ok := schema["$ref"].(string); ok {
		s, _ := schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if s == nil {
			return fmt.Errorf("%s: unknown %s", path, ref)
		}
		return conform(schemas, s, v, path)
	}
	types := []string{}
	switch t := schema["type"].(type) {
	case string:
		types = append(types, t)
	case []string:
		types = append(types, t...)
	}
	if len(types) == 0 {
		return nil
	}
	kind := jsonType(v)
	if !slices.Contains(types, kind) && !(kind == "integer" && slices.Contains(types, "number")) {
		return fmt.Errorf("%s: %s, want %v", path, kind, types)
	}
	switch x := v.(type) {
	case map[string]any:
		req, _ := schema["required"].([]string)
		for _, r := range req {
			if _, ok := x[r]; !ok {
				return fmt.Errorf("%s: missing required %q", path, r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, pv := range x {
			ps, ok := props[k].(map[string]any)
			if !ok {
				continue
			}
			if err := conform(schemas, ps, pv, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i, it := range x {
			if err := conform(schemas, items, it, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == float64(int64(x)) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}

func TestOpenAPIAgainstResponses(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tm := e.team()
	p := e.draft(tm.Author, "Described", "line one\nline two\n", "docs")
	var ed result
	e.must(200, req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Header: ifMatchHeader(p.Version),
		Body: map[string]any{"body": "line one\nline 2\n", "tags": []string{"docs", "api"}}}).json(t, &ed)
	var pub result
	e.must(200, req{Method: "POST", Path: "/api/v1/posts/" + p.ID + "/publish", Token: tm.Editor.Access, Header: ifMatchHeader(ed.Version)}).json(t, &pub)
	wait := map[string]string{"X-Min-Position": fmt.Sprint(pub.Position)}
	doc := OpenAPI()
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)
	checks := []struct {
		docPath string
		r       req
	}{
		{"/api/v1/posts", req{Method: "GET", Path: "/api/v1/posts", Header: wait}},
		{"/api/v1/posts/{id}", req{Method: "GET", Path: "/api/v1/posts/" + p.Slug, Header: wait}},
		{"/api/v1/posts/{id}", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "?version=1", Token: tm.Auditor.Access}},
		{"/api/v1/posts/{id}/revisions", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "/revisions", Token: tm.Auditor.Access, Header: wait}},
		{"/api/v1/posts/{id}/revisions/{n}", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "/revisions/2", Token: tm.Auditor.Access, Header: wait}},
		{"/api/v1/posts/{id}/diff", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "/diff?from=1&to=2", Token: tm.Auditor.Access, Header: wait}},
		{"/api/v1/posts/{id}/history", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "/history", Token: tm.Author.Access, Header: wait}},
		{"/api/v1/posts/{id}/events", req{Method: "GET", Path: "/api/v1/posts/" + p.ID + "/events", Token: tm.Auditor.Access}},
		{"/api/v1/tags", req{Method: "GET", Path: "/api/v1/tags", Header: wait}},
		{"/api/v1/audit", req{Method: "GET", Path: "/api/v1/audit", Token: tm.Auditor.Access, Header: wait}},
		{"/api/v1/events", req{Method: "GET", Path: "/api/v1/events?limit=5", Token: tm.Auditor.Access}},
		{"/api/v1/projections", req{Method: "GET", Path: "/api/v1/projections", Token: tm.Admin.Access}},
		{"/api/v1/users", req{Method: "GET", Path: "/api/v1/users", Token: tm.Admin.Access, Header: wait}},
		{"/api/v1/users/{id}", req{Method: "GET", Path: "/api/v1/users/" + tm.Author.ID, Token: tm.Admin.Access, Header: wait}},
		{"/api/v1/me", req{Method: "GET", Path: "/api/v1/me", Token: tm.Reader.Access}},
		{"/api/v1/me", req{Method: "PATCH", Path: "/api/v1/me", Token: tm.Reader.Access, Body: map[string]any{"bio": "hi"}}},
		{"/api/v1/posts", req{Method: "POST", Path: "/api/v1/posts", Token: tm.Author.Access, Body: map[string]any{"title": "Another", "body": "b"}}},
		{"/api/v1/auth/login", req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "reader", "password": testPassword}}},
		{"/api/v1/auth/login", req{Method: "POST", Path: "/api/v1/auth/login", Body: map[string]any{"login": "reader", "password": "nope nope nope"}}},
		{"/api/v1/posts/{id}", req{Method: "PATCH", Path: "/api/v1/posts/" + p.ID, Token: tm.Author.Access, Body: map[string]any{"title": "x"}}},
		{"/api/v1/posts/{id}", req{Method: "GET", Path: "/api/v1/posts/unknown-slug", Header: wait}},
		{"/readyz", req{Method: "GET", Path: "/readyz"}},
	}
	for _, c := range checks {
		r := e.do(c.r)
		op, _ := paths[c.docPath].(map[string]any)[strings.ToLower(c.r.Method)].(map[string]any)
		if op == nil {
			t.Errorf("%s %s: not documented", c.r.Method, c.docPath)
			continue
		}
		rs, _ := op["responses"].(map[string]any)[fmt.Sprint(r.Status)].(map[string]any)
		if rs == nil {
			t.Errorf("%s %s: status %d not documented (%s)", c.r.Method, c.r.Path, r.Status, r.Body)
			continue
		}
		content, _ := rs["content"].(map[string]any)
		if content == nil {
			if len(r.Body) > 0 {
				t.Errorf("%s %s: undocumented body", c.r.Method, c.r.Path)
			}
			continue
		}
		ct := strings.Split(r.Header.Get("Content-Type"), ";")[0]
		media, _ := content[ct].(map[string]any)
		if media == nil {
			t.Errorf("%s %s: content type %q not documented for %d", c.r.Method, c.r.Path, ct, r.Status)
			continue
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Errorf("%s %s: %v", c.r.Method, c.r.Path, err)
			continue
		}
		if err := conform(schemas, media["schema"].(map[string]any), v, "body"); err != nil {
			t.Errorf("%s %s (%d): %v\n%s", c.r.Method, c.r.Path, r.Status, err, r.Body)
		}
		if r.Status >= 400 && r.Status != http.StatusServiceUnavailable && ct != problemContentType {
			t.Errorf("%s %s: error without problem+json", c.r.Method, c.r.Path)
		}
	}
}
