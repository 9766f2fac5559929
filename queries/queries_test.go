package queries

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestNormalizeLimit(t *testing.T) {
	tests := []struct{ in, want int }{{-5, DefaultLimit}, {0, DefaultLimit}, {1, 1}, {20, 20}, {100, 100}, {101, MaxLimit}, {1 << 30, MaxLimit}}
	for _, tt := range tests {
		if got := NormalizeLimit(tt.in); got != tt.want {
			t.Errorf("NormalizeLimit(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestJSONShapes(t *testing.T) {
	next := "abc"
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"last page", Page[Tag]{Items: []Tag{{Name: "go", Count: 2}}}, `{"items":[{"name":"go","count":2}],"next_cursor":null}`},
		{"more pages", Page[Tag]{Items: []Tag{}, NextCursor: &next}, `{"items":[],"next_cursor":"abc"}`},
		{"user ref", UserRef{ID: "system"}, `{"id":"system","username":"","display_name":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
	b, _ := json.Marshal(Post{})
	for _, key := range []string{`"body_html"`, `"published_at":null`, `"scheduled_for":null`, `"author":{`, `"created_at"`} {
		if !json.Valid(b) || !strings.Contains(string(b), key) {
			t.Errorf("post JSON %s lacks %s", b, key)
		}
	}
}
