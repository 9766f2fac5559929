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

// smallIntern is the input size up to which tokens are interned by linear
// search instead of a map (word diffs of edited lines).
const smallIntern = 32

// differ holds the state of a diff of two token sequences. Its buffers are
// reused by the next diff run on the same differ (one per goroutine).
type differ struct {
	a, b       []int // interned tokens
	ids        []int // backing array of a and b
	names      map[string]int
	distinct   int   // distinct tokens in a and b
	counts     []int // commonBytes' buffer
	delA, insB []bool
	vf, vb     []int
	ops        []op
}

// diffTokens returns the edit script turning token sequence a into b.
func diffTokens(a, b []string) []op {
	var d differ
	return d.diff(a, b)
}

// diff returns the edit script turning a into b. The script is valid until
// the next call.
func (d *differ) diff(a, b []string) []op {
	d.intern(a, b)
	return d.run()
}

// run returns the edit script of the sequences intern took last.
func (d *differ) run() []op {
	d.delA = resetBools(d.delA, len(d.a))
	d.insB = resetBools(d.insB, len(d.b))
	d.compare(0, len(d.a), 0, len(d.b))
	return d.script()
}

// commonBytes returns an upper bound of the bytes of a that the script of
// the sequences intern took last (a and b) keeps equal: the bytes of the
// tokens a and b have in common, counted as often as both have them.
func (d *differ) commonBytes(a []string) int {
	if cap(d.counts) < 2*d.distinct {
		d.counts = make([]int, 2*d.distinct)
	}
	inA, inB := d.counts[:d.distinct], d.counts[d.distinct:2*d.distinct]
	clear(inA)
	clear(inB)
	for _, id := range d.a {
		inA[id]++
	}
	for _, id := range d.b {
		inB[id]++
	}
	n := 0
	for i, id := range d.a {
		if inB[id] > 0 {
			inB[id]-- // each token of b matches at most one of a
			n += len(a[i])
		}
	}
	return n
}

// resetBools returns s resized to n falses, reusing its array.
func resetBools(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// intern maps the tokens of a and b to small integers (d.a, d.b) so the
// diff compares ints instead of strings.
func (d *differ) intern(a, b []string) {
	n := len(a) + len(b)
	if cap(d.ids) < n {
		d.ids = make([]int, n)
	}
	ids := d.ids[:n]
	token := func(i int) string {
		if i < len(a) {
			return a[i]
		}
		return b[i-len(a)]
	}
	if n <= smallIntern {
		var seen [smallIntern]string
		distinct := 0
		for i := range ids {
			t := token(i)
			id := 0
			for id < distinct && seen[id] != t {
				id++
			}
			if id == distinct {
				seen[distinct] = t
				distinct++
			}
			ids[i] = id
		}
		d.distinct = distinct
	} else {
		if d.names == nil {
			d.names = make(map[string]int, n)
		} else {
			clear(d.names)
		}
		for i := range ids {
			t := token(i)
			id, ok := d.names[t]
			if !ok {
				id = len(d.names)
				d.names[t] = id
			}
			ids[i] = id
		}
		d.distinct = len(d.names)
	}
	d.a, d.b = ids[:len(a):len(a)], ids[len(a):]
}

// script walks the change marks and produces the edit script, deletions
// before insertions within each run of changes.
func (d *differ) script() []op {
	ops := d.ops[:0]
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
	d.ops = ops
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
