package model

// Vocab maps strings (tokens, categories, brands, item ids) to dense rows.
// Row 0 is reserved for "unknown": Row returns 0 for a string it does not
// hold. A Vocab is not safe for concurrent Add; concurrent Row and Word calls
// are safe once no goroutine adds.
type Vocab struct {
	words []string
	index map[string]int32
}

// NewVocab returns a vocabulary holding only the unknown row.
func NewVocab() *Vocab {
	return &Vocab{words: []string{""}, index: map[string]int32{}}
}

// Add returns the row of w, adding it when new. The empty string is the
// unknown row 0.
func (v *Vocab) Add(w string) int32 {
	if w == "" {
		return 0
	}
	if r, ok := v.index[w]; ok {
		return r
	}
	r := int32(len(v.words))
	v.words = append(v.words, w)
	v.index[w] = r
	return r
}

// Row returns the row of w, or 0 (unknown) when w is not in the vocabulary.
func (v *Vocab) Row(w string) int32 { return v.index[w] }

// Has reports whether w has a row of its own.
func (v *Vocab) Has(w string) bool { _, ok := v.index[w]; return ok }

// Word returns the string of row r; row 0 and rows out of range give "".
func (v *Vocab) Word(r int32) string {
	if r <= 0 || int(r) >= len(v.words) {
		return ""
	}
	return v.words[r]
}

// Len returns the number of rows, the unknown row included.
func (v *Vocab) Len() int { return len(v.words) }

// IDItems returns the items a model knows only by their id: those whose
// name token is "#" + id (items without a name in training). It gives an
// id-only model (trained on yoochoose, say) its catalogue. The result is
// newly allocated.
func (m *Model) IDItems() []Item {
	var out []Item
	for r := int32(1); int(r) < m.Tokens.Len(); r++ {
		if w := m.Tokens.Word(r); len(w) > 1 && w[0] == '#' {
			out = append(out, Item{ID: w[1:]})
		}
	}
	return out
}
