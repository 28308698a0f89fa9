package eval

// scored is an id with a score.
type scored struct {
	id    int32
	score float64
}

// better reports whether a ranks before b: a higher score, or an equal
// score and a higher id (for sessions in time order, the more recent one).
func better(a, b scored) bool {
	return a.score > b.score || (a.score == b.score && a.id > b.id)
}

// topK keeps the k best scored ids pushed into it in a min-heap whose root
// is the worst kept one. The zero value is unusable; use reset.
type topK struct {
	k int
	h []scored
}

// reset empties t and sets its capacity to k.
func (t *topK) reset(k int) {
	t.k = k
	t.h = t.h[:0]
}

// push offers s.
func (t *topK) push(s scored) {
	if len(t.h) < t.k {
		t.h = append(t.h, s)
		t.up(len(t.h) - 1)
		return
	}
	if t.k == 0 || !better(s, t.h[0]) {
		return
	}
	t.h[0] = s
	t.down(0)
}

// sorted orders the kept ids best first and returns them; the slice is
// owned by t and valid until the next reset or push.
func (t *topK) sorted() []scored {
	// Heap sort in place: repeatedly move the worst to the end.
	h := t.h
	for n := len(h) - 1; n > 0; n-- {
		h[0], h[n] = h[n], h[0]
		t.h = h[:n]
		t.down(0)
	}
	t.h = h
	return h
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !better(t.h[p], t.h[i]) {
			break
		}
		t.h[p], t.h[i] = t.h[i], t.h[p]
		i = p
	}
}

func (t *topK) down(i int) {
	n := len(t.h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l // the worse child
		if r := l + 1; r < n && better(t.h[l], t.h[r]) {
			w = r
		}
		if !better(t.h[i], t.h[w]) {
			return
		}
		t.h[i], t.h[w] = t.h[w], t.h[i]
		i = w
	}
}
