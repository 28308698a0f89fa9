package model

import (
	"math"
	"strings"
	"unicode"
)

// Item is what the catalogue knows of an item: the features its vector is
// built from. Every field but ID may be empty.
type Item struct {
	// ID identifies the item; it is the token of an item without a name.
	ID string
	// Name is free text, split into lower-case alphanumeric tokens.
	Name string
	// Category is a category code. A dotted code such as
	// "electronics.smartphone" also draws on the rows of its ancestors
	// ("electronics").
	Category string
	// Brand is a brand name, compared case-insensitively.
	Brand string
	// Price is in currency units. Zero, negative, NaN or infinite means
	// unknown.
	Price float64
}

// Tokens returns the name tokens of it: its name lower-cased and split on
// every rune that is not a letter or digit. An item without any name token
// has its ID as its one token, prefixed with "#" so that it cannot collide
// with a word of a name. The returned slice is newly allocated.
func (it Item) Tokens() []string {
	toks := strings.FieldsFunc(strings.ToLower(it.Name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(toks) == 0 {
		return []string{"#" + it.ID}
	}
	return toks
}

// Categories returns the category code of it and its ancestors, most
// specific first: "a.b.c" gives ["a.b.c", "a.b", "a"]. An empty category
// gives nil.
func (it Item) Categories() []string {
	c := strings.ToLower(strings.TrimSpace(it.Category))
	if c == "" {
		return nil
	}
	out := []string{c}
	for {
		i := strings.LastIndexByte(c, '.')
		if i <= 0 {
			return out
		}
		c = c[:i]
		out = append(out, c)
	}
}

// BrandKey returns the normalised brand: lower-cased and trimmed.
func (it Item) BrandKey() string { return strings.ToLower(strings.TrimSpace(it.Brand)) }

// KnownPrice reports whether it has a usable price.
func (it Item) KnownPrice() bool {
	return it.Price > 0 && !math.IsInf(it.Price, 0) && !math.IsNaN(it.Price)
}
