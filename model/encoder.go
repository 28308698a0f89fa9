package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Dims are the sizes of the four parts of an item vector, in order: name,
// category, brand, price. A part may be 0 (a dataset without brands does not
// need a brand part); the sum must be at least 1.
type Dims struct {
	Name, Category, Brand, Price int
}

// DefaultDims returns the product's default sizes: 32 name + 32 category +
// 32 brand + 4 price = 100.
func DefaultDims() Dims { return Dims{Name: 32, Category: 32, Brand: 32, Price: 4} }

// Total returns the length of an item vector.
func (d Dims) Total() int { return d.Name + d.Category + d.Brand + d.Price }

func (d Dims) validate() error {
	if d.Name < 0 || d.Category < 0 || d.Brand < 0 || d.Price < 0 {
		return fmt.Errorf("model: negative dimension in %+v", d)
	}
	if d.Total() < 1 || d.Total() > 4096 {
		return fmt.Errorf("model: total dimension %d out of range [1, 4096]", d.Total())
	}
	return nil
}

// Tables are one set of encoder parameters: an embedding table per
// feature vocabulary and the price layer. An encoding of an item by Tables
// is the concatenation of
//
//	name     the mean of its name tokens' rows of Tokens
//	category the mean of the Categories rows of its category and ancestors
//	brand    its row of Brands
//	price    PriceW*z + PriceB for a normalised log price z, or
//	         PriceUnknown when the price is unknown
//
// Row 0 of each table is the learned "unknown" row.
type Tables struct {
	// Tokens, Categories and Brands are row-major tables of Vocab.Len()
	// rows of Dims.Name, Dims.Category and Dims.Brand columns.
	Tokens, Categories, Brands []float32
	// PriceW, PriceB and PriceUnknown have Dims.Price elements each.
	PriceW, PriceB, PriceUnknown []float32
}

// Model holds the learned parameters of the item encoder and what is known
// of their training. It has two sets of tables over the same vocabularies,
// as word2vec has input and output vectors: In encodes an item as the
// centre of a training pair, Ctx as its context. An item's vector is the
// sum of its two encodings, each scaled to unit length: cosine on it mixes
// the second-order similarity of In·In (items seen in like company) with
// the first-order In·Ctx (items seen together), as GloVe's W+C does.
// Both come from the item's features, so an item never seen in training
// gets a vector from its name, category, brand and price.
//
// A Model is read-only once trained or loaded and then safe for concurrent
// use.
type Model struct {
	Dims Dims

	Tokens     *Vocab
	Categories *Vocab
	Brands     *Vocab

	In, Ctx Tables

	// PriceMean and PriceScale normalise the log price:
	// z = (ln(price) - PriceMean) / PriceScale; PriceScale > 0.
	PriceMean, PriceScale float32

	// Sessions, when not nil, are the training sessions the
	// neighbourhood term of the ranking votes from (Neighbours).
	Sessions *SessionLog

	// Info describes how the model was made.
	Info Info
}

// Features are an item's features resolved to rows of a Model's tables: the
// form the encoder and the trainer work on. Resolve once, encode often.
type Features struct {
	Tokens     []int32 // at least one row; 0 is unknown
	Categories []int32 // own row first, then ancestors'; at least one row
	Brand      int32
	PriceZ     float32 // normalised log price, when HasPrice
	HasPrice   bool
}

// Resolve maps it onto m's vocabularies. Tokens, categories and brands that m
// has never seen resolve to the unknown row 0. The result does not alias it.
func (m *Model) Resolve(it Item) Features {
	toks := it.Tokens()
	f := Features{Tokens: make([]int32, 0, len(toks))}
	for _, t := range toks {
		f.Tokens = append(f.Tokens, m.Tokens.Row(t))
	}
	cats := it.Categories()
	if len(cats) == 0 {
		f.Categories = []int32{0}
	}
	for _, c := range cats {
		f.Categories = append(f.Categories, m.Categories.Row(c))
	}
	f.Brand = m.Brands.Row(it.BrandKey())
	if it.KnownPrice() {
		f.HasPrice = true
		f.PriceZ = (float32(math.Log(it.Price)) - m.PriceMean) / m.PriceScale
	}
	return f
}

// Encode writes the vector of it into dst, which it grows to Dims.Total()
// when short, and returns it. The vector is the sum of the unit-length In
// and Ctx encodings; it is not normalised.
func (m *Model) Encode(it Item, dst []float32) []float32 {
	f := m.Resolve(it)
	return m.EncodeFeatures(&f, dst)
}

// EncodeFeatures is Encode for resolved features.
func (m *Model) EncodeFeatures(f *Features, dst []float32) []float32 {
	n := m.Dims.Total()
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	tmp := make([]float32, n)
	m.encode(&m.In, f, dst)
	Normalize(dst)
	m.encode(&m.Ctx, f, tmp)
	Normalize(tmp)
	Axpy(1, tmp, dst)
	return dst
}

// encode writes the encoding of f by tables t into dst (len Dims.Total()).
func (m *Model) encode(t *Tables, f *Features, dst []float32) {
	d := m.Dims
	clear(dst)
	meanRows(dst[:d.Name], t.Tokens, d.Name, f.Tokens)
	meanRows(dst[d.Name:d.Name+d.Category], t.Categories, d.Category, f.Categories)
	copy(dst[d.Name+d.Category:d.Name+d.Category+d.Brand], row(t.Brands, d.Brand, f.Brand))
	price := dst[d.Name+d.Category+d.Brand:]
	if f.HasPrice {
		for i := range price {
			price[i] = t.PriceW[i]*f.PriceZ + t.PriceB[i]
		}
	} else {
		copy(price, t.PriceUnknown)
	}
}

// scatter adds alpha*g, for g a gradient with respect to the encoding of f
// by t, to the parameters of t it was encoded from: the adjoint of encode.
func (m *Model) scatter(t *Tables, f *Features, alpha float32, g []float32) {
	d := m.Dims
	if d.Name > 0 {
		w := alpha / float32(len(f.Tokens))
		for _, r := range f.Tokens {
			Axpy(w, g[:d.Name], row(t.Tokens, d.Name, r))
		}
	}
	if d.Category > 0 {
		gc := g[d.Name : d.Name+d.Category]
		w := alpha / float32(len(f.Categories))
		for _, r := range f.Categories {
			Axpy(w, gc, row(t.Categories, d.Category, r))
		}
	}
	if d.Brand > 0 {
		Axpy(alpha, g[d.Name+d.Category:d.Name+d.Category+d.Brand], row(t.Brands, d.Brand, f.Brand))
	}
	gp := g[d.Name+d.Category+d.Brand:]
	if f.HasPrice {
		for i, x := range gp {
			t.PriceW[i] += alpha * x * f.PriceZ
			t.PriceB[i] += alpha * x
		}
	} else {
		Axpy(alpha, gp, t.PriceUnknown)
	}
}

func row(table []float32, dim int, r int32) []float32 {
	o := int(r) * dim
	return table[o : o+dim : o+dim]
}

// meanRows sets dst to the mean of the given rows of table; dst must be zero.
func meanRows(dst, table []float32, dim int, rows []int32) {
	if dim == 0 || len(rows) == 0 {
		return
	}
	w := 1 / float32(len(rows))
	for _, r := range rows {
		Axpy(w, row(table, dim, r), dst)
	}
}

// newModel allocates a model for the given vocabularies: the In tables
// small and random, the Ctx tables zero, as word2vec initialises its input
// and output vectors.
func newModel(d Dims, toks, cats, brands *Vocab, priceMean, priceScale float32, rng *rand.Rand) *Model {
	return &Model{
		Dims: d, Tokens: toks, Categories: cats, Brands: brands,
		In: Tables{
			Tokens:       randTable(rng, toks.Len()*d.Name, d.Total()),
			Categories:   randTable(rng, cats.Len()*d.Category, d.Total()),
			Brands:       randTable(rng, brands.Len()*d.Brand, d.Total()),
			PriceW:       randTable(rng, d.Price, d.Total()),
			PriceB:       make([]float32, d.Price),
			PriceUnknown: randTable(rng, d.Price, d.Total()),
		},
		Ctx: Tables{
			Tokens:       make([]float32, toks.Len()*d.Name),
			Categories:   make([]float32, cats.Len()*d.Category),
			Brands:       make([]float32, brands.Len()*d.Brand),
			PriceW:       make([]float32, d.Price),
			PriceB:       make([]float32, d.Price),
			PriceUnknown: make([]float32, d.Price),
		},
		PriceMean: priceMean, PriceScale: priceScale,
	}
}

func randTable(rng *rand.Rand, n, dim int) []float32 {
	t := make([]float32, n)
	s := 1 / float32(dim)
	for i := range t {
		t[i] = (rng.Float32() - 0.5) * s
	}
	return t
}
