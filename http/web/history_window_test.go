package web

import (
	"slices"
	"testing"
)

func TestWindowBefore(t *testing.T) {
	seq := func(from, to uint64) []uint64 {
		var s []uint64
		for i := from; i <= to; i++ {
			s = append(s, i)
		}
		return s
	}
	id := func(v uint64) uint64 { return v }
	tests := []struct {
		name      string
		items     []uint64
		before    string
		want      []uint64
		wantOlder uint64
	}{
		{"short list shown whole", seq(1, 3), "", seq(1, 3), 0},
		{"exactly one window", seq(1, historyWindow), "", seq(1, historyWindow), 0},
		{"newest window of a long list", seq(1, 120), "", seq(71, 120), 71},
		{"older window", seq(1, 120), "71", seq(21, 70), 21},
		{"oldest window", seq(1, 120), "21", seq(1, 20), 0},
		{"invalid before is ignored", seq(1, 120), "x'; drop", seq(71, 120), 71},
		{"before beyond the end", seq(1, 120), "1000", seq(71, 120), 71},
		{"before the first", seq(1, 120), "1", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, older := windowBefore(tt.items, tt.before, id)
			if !slices.Equal(got, tt.want) || older != tt.wantOlder {
				t.Fatalf("windowBefore(%d items, %q) = %v, %d; want %v, %d", len(tt.items), tt.before, got, older, tt.want, tt.wantOlder)
			}
		})
	}
}
