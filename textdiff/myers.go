package textdiff

// This file holds the sequence diff behind Lines and Words: Myers' O(ND)
// algorithm in its linear-space divide-and-conquer form ("middle snake",
// Myers 1986, section 4b) over interned tokens. Memory is O(N+M). Work is
// bounded: when the middle-snake search of one sub-problem exceeds
// its cost limit, the search stops and splits at the furthest point the
// forward search reached (the heuristic GNU diff uses), so a pathological
// pair of inputs costs O((N+M)·limit) instead of O((N+M)·D).

// Bounds on the edit steps one middle-snake search explores: the budget is
// shared out over the size of the sub-problem, so large inputs get a smaller
// limit, but never below minCostLimit or above maxCostLimit.
const (
	costBudget   = 1 << 20
	minCostLimit = 64
	maxCostLimit = 1024
)

// opKind is the kind of one edit operation.
type opKind uint8

const (
	opEqual opKind = iota
	opDelete
	opInsert
)

// op is one element of an edit script: a token of a (delete), of b (insert)
// or common to both (equal). AIndex/BIndex are the token indexes in a and b
// (the one that does not apply is the index at which the op happens).
type op struct {
	kind   opKind
	aIndex int
	bIndex int
}

// intern maps tokens of two sequences to small integers so the diff compares
// ints instead of strings.
func intern(a, b []string) ([]int, []int) {
	ids := make(map[string]int, len(a)+len(b))
	conv := func(s []string) []int {
		out := make([]int, len(s))
		for i, t := range s {
			id, ok := ids[t]
			if !ok {
				id = len(ids)
				ids[t] = id
			}
			out[i] = id
		}
		return out
	}
	return conv(a), conv(b)
}

// differ holds the state of one diff of two int sequences.
type differ struct {
	a, b       []int
	delA, insB []bool
	vf, vb     []int
}

// diffTokens returns the edit script turning token sequence a into b.
func diffTokens(a, b []string) []op {
	ia, ib := intern(a, b)
	d := &differ{
		a:    ia,
		b:    ib,
		delA: make([]bool, len(ia)),
		insB: make([]bool, len(ib)),
	}
	d.compare(0, len(ia), 0, len(ib))
	return d.script()
}

// script walks the change marks and produces the edit script, deletions
// before insertions within each run of changes.
func (d *differ) script() []op {
	ops := make([]op, 0, max(len(d.a), len(d.b)))
	i, j := 0, 0
	for i < len(d.a) || j < len(d.b) {
		switch {
		case i < len(d.a) && d.delA[i]:
			ops = append(ops, op{kind: opDelete, aIndex: i, bIndex: j})
			i++
		case j < len(d.b) && d.insB[j]:
			ops = append(ops, op{kind: opInsert, aIndex: i, bIndex: j})
			j++
		default:
			ops = append(ops, op{kind: opEqual, aIndex: i, bIndex: j})
			i++
			j++
		}
	}
	return ops
}

// compare marks the changed tokens of a[aLo:aHi] and b[bLo:bHi].
func (d *differ) compare(aLo, aHi, bLo, bHi int) {
	for {
		// Strip the common prefix and suffix.
		for aLo < aHi && bLo < bHi && d.a[aLo] == d.b[bLo] {
			aLo++
			bLo++
		}
		for aLo < aHi && bLo < bHi && d.a[aHi-1] == d.b[bHi-1] {
			aHi--
			bHi--
		}
		switch {
		case aLo == aHi:
			for j := bLo; j < bHi; j++ {
				d.insB[j] = true
			}
			return
		case bLo == bHi:
			for i := aLo; i < aHi; i++ {
				d.delA[i] = true
			}
			return
		}
		x, y, ok := d.split(aLo, aHi, bLo, bHi)
		if !ok || (x == aLo && y == bLo) || (x == aHi && y == bHi) {
			// No useful split: replace the whole range.
			for i := aLo; i < aHi; i++ {
				d.delA[i] = true
			}
			for j := bLo; j < bHi; j++ {
				d.insB[j] = true
			}
			return
		}
		// Recurse on the smaller half, loop on the larger one so the
		// recursion depth stays logarithmic in practice.
		if (x-aLo)+(y-bLo) < (aHi-x)+(bHi-y) {
			d.compare(aLo, x, bLo, y)
			aLo, bLo = x, y
		} else {
			d.compare(x, aHi, y, bHi)
			aHi, bHi = x, y
		}
	}
}

// split finds a point (x, y) on an optimal (or, past its cost limit, a good)
// edit path through a[aLo:aHi] × b[bLo:bHi]. Both ranges are non-empty and
// share no common prefix or suffix.
func (d *differ) split(aLo, aHi, bLo, bHi int) (int, int, bool) {
	n, m := aHi-aLo, bHi-bLo
	maxD := (n + m + 1) / 2
	limit := min(maxD, max(minCostLimit, min(maxCostLimit, costBudget/(n+m))))
	size := 2*limit + 3
	if cap(d.vf) < size {
		d.vf = make([]int, size)
		d.vb = make([]int, size)
	}
	vf, vb := d.vf[:size], d.vb[:size]
	off := limit + 1
	delta := n - m
	odd := delta&1 != 0

	for k := 0; k <= limit; k++ {
		// Forward search along diagonals dg = x - y in [-k, k]. A value of
		// -1 marks a diagonal no k-edit path reaches inside the grid.
		for dg := -k; dg <= k; dg += 2 {
			x := -1
			if k == 0 {
				x = 0
			}
			if dg > -k { // a deletion (move right) from diagonal dg-1
				if p := vf[off+dg-1]; p >= 0 && p < n {
					x = p + 1
				}
			}
			if dg < k { // an insertion (move down) from diagonal dg+1
				if p := vf[off+dg+1]; p >= 0 && p-dg <= m && p > x {
					x = p
				}
			}
			if x < 0 {
				vf[off+dg] = -1
				continue
			}
			y := x - dg
			for x < n && y < m && d.a[aLo+x] == d.b[bLo+y] {
				x++
				y++
			}
			vf[off+dg] = x
			// The reverse diagonal on the same line is delta-dg.
			if rd := delta - dg; odd && rd >= -(k-1) && rd <= k-1 {
				if r := vb[off+rd]; r >= 0 && x+r >= n {
					return aLo + x, bLo + y, true
				}
			}
		}
		// Reverse search: x, y count from the ends of the ranges.
		for dg := -k; dg <= k; dg += 2 {
			x := -1
			if k == 0 {
				x = 0
			}
			if dg > -k {
				if p := vb[off+dg-1]; p >= 0 && p < n {
					x = p + 1
				}
			}
			if dg < k {
				if p := vb[off+dg+1]; p >= 0 && p-dg <= m && p > x {
					x = p
				}
			}
			if x < 0 {
				vb[off+dg] = -1
				continue
			}
			y := x - dg
			for x < n && y < m && d.a[aHi-1-x] == d.b[bHi-1-y] {
				x++
				y++
			}
			vb[off+dg] = x
			if fd := delta - dg; !odd && fd >= -k && fd <= k {
				if f := vf[off+fd]; f >= 0 && x+f >= n {
					return aHi - x, bHi - y, true
				}
			}
		}
	}
	if limit == maxD {
		// Unreachable for consistent input: the paths must meet by maxD.
		return 0, 0, false
	}
	// Too expensive: split at the furthest-reaching forward point.
	bestX, bestY, best := 0, 0, -1
	for dg := -limit; dg <= limit; dg += 2 {
		x := vf[off+dg]
		if x < 0 {
			continue
		}
		if y := x - dg; x+y > best {
			bestX, bestY, best = x, y, x+y
		}
	}
	return aLo + bestX, bLo + bestY, best > 0
}
