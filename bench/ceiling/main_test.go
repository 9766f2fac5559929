package main

import (
	"encoding/json"
	"testing"
)

func TestFixedBody(t *testing.T) {
	for _, n := range []int{512, 2048, 4096} {
		b := fixedBody(n)
		if len(b) != n {
			t.Errorf("fixedBody(%d) is %d bytes", n, len(b))
		}
		var v struct {
			Items []map[string]string `json:"items"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.Items) == 0 {
			t.Errorf("fixedBody(%d) = %.60q…: not a JSON list of items (%v)", n, b, err)
		}
	}
}
