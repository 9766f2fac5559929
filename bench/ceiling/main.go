// Command ceiling is the HTTP baseline of the benchmarks: a bare net/http
// server answering every request with the same 2 KB JSON body. Measured with
// wrk in the same run as cms serve, it shows what this machine can do at all
// (the ceiling), so the API's figures can be read as a ratio that survives
// noise from other load on the machine.
//
//	go run ./bench/ceiling -addr 127.0.0.1:8099
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bodySize is the size of the fixed JSON body, about a list page's.
const bodySize = 2048

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "listen address (loopback only)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("ceiling: parse addr: %v", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		log.Fatalf("ceiling: refusing non-loopback address %s", *addr)
	}
	body := fixedBody(bodySize)
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "application/json; charset=utf-8")
			h.Set("Content-Length", length)
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	log.Printf("ceiling: serving %d-byte JSON on http://%s", len(body), *addr)
	log.Fatal(srv.ListenAndServe())
}

// fixedBody returns a JSON document of exactly n bytes shaped like a list
// of posts.
func fixedBody(n int) []byte {
	type item struct {
		ID    string `json:"id"`
		Title string `json:"title"`
		Text  string `json:"excerpt"`
	}
	var items []item
	for i := 0; ; i++ {
		it := item{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Title: fmt.Sprintf("Post number %d", i),
			Text: "A short excerpt of the post, as a list page would show it."}
		next, _ := json.Marshal(map[string]any{"items": append(items, it), "next_cursor": nil})
		if len(next) > n {
			break
		}
		items = append(items, it)
	}
	b, _ := json.Marshal(map[string]any{"items": items, "next_cursor": nil, "pad": ""})
	if pad := n - len(b); pad > 0 {
		b, _ = json.Marshal(map[string]any{"items": items, "next_cursor": nil, "pad": strings.Repeat("x", pad)})
	}
	return b
}
