// Package apiclient is the small Palimpsest API client the load generators
// under bench/ share: sign in, draft a post, edit it with If-Match. It talks
// to loopback addresses only, so a benchmark can never send traffic elsewhere.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Client calls one Palimpsest server.
type Client struct {
	base string
	http *http.Client
}

// Result is a command response: the post's id, slug, new stream version,
// revision and the global log position of the last event appended.
type Result struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Version  uint64 `json:"version"`
	Revision int    `json:"revision"`
	Position uint64 `json:"position"`
}

// StatusError is an unexpected HTTP status with the problem body.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Op, e.Status, e.Body)
}

// New returns a client for the server at baseURL (e.g. http://127.0.0.1:8080),
// keeping up to conns idle connections. It refuses non-loopback hosts.
func New(baseURL string, conns int) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("apiclient: parse base URL: %w", err)
	}
	if host := u.Hostname(); host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("apiclient: refusing non-loopback host %q", host)
		}
	}
	if conns <= 0 {
		conns = 16
	}
	tr := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}
	return &Client{base: u.Scheme + "://" + u.Host, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Login signs in and returns an access token.
func (c *Client) Login(ctx context.Context, login, password string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.do(ctx, "login", http.MethodPost, "/api/v1/auth/login", "", nil,
		map[string]string{"login": login, "password": password}, http.StatusOK, &out); err != nil {
		return "", err
	}
	if out.AccessToken == "" {
		return "", errors.New("login: no access token in the response")
	}
	return out.AccessToken, nil
}

// Register creates an account and returns its access token (the first
// account on an empty system is an admin).
func (c *Client) Register(ctx context.Context, email, username, password string) (string, error) {
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := c.do(ctx, "register", http.MethodPost, "/api/v1/auth/register", "", nil,
		map[string]string{"email": email, "username": username, "password": password, "display_name": username},
		http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}

// Draft creates a post.
func (c *Client) Draft(ctx context.Context, token, title, body string, tags []string) (Result, error) {
	var res Result
	_, err := c.do(ctx, "draft", http.MethodPost, "/api/v1/posts", token, nil,
		map[string]any{"title": title, "body": body, "excerpt": "", "tags": tags}, http.StatusCreated, &res)
	return res, err
}

// Edit makes a new revision of post id with the given body, sending
// If-Match with version. It returns the command result.
func (c *Client) Edit(ctx context.Context, token, id string, version uint64, body, note string) (Result, error) {
	var res Result
	hdr := http.Header{"If-Match": {`"` + strconv.FormatUint(version, 10) + `"`}}
	_, err := c.do(ctx, "edit", http.MethodPatch, "/api/v1/posts/"+id, token, hdr,
		map[string]any{"body": body, "note": note}, http.StatusOK, &res)
	return res, err
}

// Get fetches path with the token (may be empty) and extra headers, and
// returns the status code; the body is discarded.
func (c *Client) Get(ctx context.Context, path, token string, hdr http.Header) (int, error) {
	return c.do(ctx, "get", http.MethodGet, path, token, hdr, nil, 0, nil)
}

// do sends one request with a JSON body (when in is not nil) and decodes the
// JSON response into out (when not nil). A status other than want (when want
// is not 0) is a *StatusError.
func (c *Client) do(ctx context.Context, op, method, path, token string, hdr http.Header, in any, want int, out any) (int, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s: encode: %w", op, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: read body: %w", op, err)
	}
	if want != 0 && resp.StatusCode != want {
		if len(b) > 300 {
			b = b[:300]
		}
		return resp.StatusCode, &StatusError{Op: op, Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: decode: %w", op, err)
		}
	}
	return resp.StatusCode, nil
}
