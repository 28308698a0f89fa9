package model

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// artefactSeed seeds the random models of the artefact tests; tests log it.
const artefactSeed = 90210

const goldenArtefact = "testdata/model-v1.golden"

// artefactInfo returns an Info in which every field is set, so that a field the
// artefact drops fails a round trip.
func artefactInfo(version string) Info {
	return Info{
		Version: version,
		Epochs:  7, Negatives: 5, PartSize: 4, MaxPart: 16, MaxEvents: 50,
		KeepAll: true, NegativePower: 0.75, Subsample: 1e-4,
		LearningRate: 0.025, PurchaseWeight: 3, Workers: 2, Seed: math.MaxUint64 - 1,
		Sessions: 1234, KeptSessions: 321, Items: 999, TrainedItems: 456,
		Events: 1 << 40, Pairs: -1, // Info is descriptive: any value round-trips
		From: time.Date(2019, 10, 1, 0, 0, 0, 0, time.UTC),
		To:   time.Date(2020, 4, 30, 23, 59, 59, 999999999, time.UTC),
	}
}

// goldenArtefactModel returns the tiny model of the golden artefact. Its Version is
// empty, so that the golden file also pins the digest.
func goldenArtefactModel() *Model {
	d := Dims{Name: 2, Category: 2, Brand: 1, Price: 1}
	toks, cats, brands := NewVocab(), NewVocab(), NewVocab()
	for _, w := range []string{"red", "shoe", "größe"} {
		toks.Add(w)
	}
	cats.Add("shoes.running")
	cats.Add("shoes")
	brands.Add("acme")
	// Exact binary fractions, some negative, one negative zero.
	val := func(i, k int) float32 { return float32((i*k)%9-4) / 8 }
	table := func(n, k int) []float32 {
		t := make([]float32, n)
		for i := range t {
			t[i] = val(i, k)
		}
		return t
	}
	tables := func(k int) Tables {
		return Tables{
			Tokens:       table(toks.Len()*d.Name, k),
			Categories:   table(cats.Len()*d.Category, k+1),
			Brands:       table(brands.Len()*d.Brand, k+2),
			PriceW:       []float32{0.5},
			PriceB:       []float32{float32(math.Copysign(0, -1))},
			PriceUnknown: []float32{-0.25},
		}
	}
	info := artefactInfo("")
	info.To = time.Time{} // the zero time has its own encoding
	return &Model{
		Dims: d, Tokens: toks, Categories: cats, Brands: brands,
		In: tables(3), Ctx: tables(5),
		PriceMean: 3.5, PriceScale: 1.25,
		Info: info,
	}
}

// randomArtefactModel returns a model with the given numbers of words and random
// tables. Dims parts may be 0.
func randomArtefactModel(rng *rand.Rand, d Dims, tokens, cats, brands int) *Model {
	vocab := func(prefix string, n int) *Vocab {
		v := NewVocab()
		if n > 0 {
			v.Add(prefix + "#\xff\xfe not UTF-8") // as an item ID may be
		}
		for v.Len() <= n {
			v.Add(fmt.Sprintf("%s%d-é%x", prefix, rng.IntN(1<<30), rng.Uint32()))
		}
		return v
	}
	m := &Model{Dims: d, Tokens: vocab("t", tokens), Categories: vocab("c", cats), Brands: vocab("b", brands)}
	table := func(n int) []float32 {
		t := make([]float32, n)
		for i := range t {
			t[i] = float32(rng.NormFloat64() * 0.1)
		}
		return t
	}
	for _, t := range []*Tables{&m.In, &m.Ctx} {
		*t = Tables{
			Tokens:       table(m.Tokens.Len() * d.Name),
			Categories:   table(m.Categories.Len() * d.Category),
			Brands:       table(m.Brands.Len() * d.Brand),
			PriceW:       table(d.Price),
			PriceB:       table(d.Price),
			PriceUnknown: table(d.Price),
		}
	}
	m.PriceMean, m.PriceScale = float32(rng.NormFloat64()), 0.5+rng.Float32()
	m.Info = artefactInfo(fmt.Sprintf("v-%d", rng.IntN(1000)))
	return m
}

// mustWriteArtefact returns the artefact of m, failing the test on error.
func mustWriteArtefact(t testing.TB, m *Model) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := m.WriteTo(&buf)
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), n, "WriteTo byte count")
	return buf.Bytes()
}

// mustReadArtefact reads an artefact, failing the test on error.
func mustReadArtefact(t testing.TB, b []byte) *Model {
	t.Helper()
	m, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	return m
}

// withArtefactVersion returns a shallow copy of m whose Info.Version is what Read
// returns for m's artefact.
func withArtefactVersion(m *Model) *Model {
	c := *m
	if c.Info.Version == "" {
		c.Info.Version = m.Digest()
	}
	return &c
}

// fixArtefactChecksum replaces the last 4 bytes of b by the CRC-32C of the rest.
func fixArtefactChecksum(b []byte) []byte {
	out := bytes.Clone(b)
	sum := crc32.Checksum(out[:len(out)-4], crc32.MakeTable(crc32.Castagnoli))
	binary.LittleEndian.PutUint32(out[len(out)-4:], sum)
	return out
}

func TestArtefactRoundTrip(t *testing.T) {
	t.Logf("seed %d", artefactSeed)
	rng := rand.New(rand.NewPCG(artefactSeed, 1))
	noVersion := randomArtefactModel(rng, DefaultDims(), 50, 10, 5)
	noVersion.Info.Version = ""
	zeroInfo := randomArtefactModel(rng, Dims{Name: 3, Category: 1, Brand: 1, Price: 1}, 3, 2, 1)
	zeroInfo.Info = Info{}
	for _, tc := range []struct {
		name string
		m    *Model
	}{
		{"golden", goldenArtefactModel()},
		{"default dims", randomArtefactModel(rng, DefaultDims(), 200, 30, 20)},
		{"version from digest", noVersion},
		{"zero info", zeroInfo},
		{"no brand or price part", randomArtefactModel(rng, Dims{Name: 8, Category: 4}, 20, 5, 3)},
		{"name part only", randomArtefactModel(rng, Dims{Name: 1}, 1, 0, 0)},
		{"empty vocabularies", randomArtefactModel(rng, Dims{Name: 2, Category: 2, Brand: 2, Price: 2}, 0, 0, 0)},
		{"max dims", randomArtefactModel(rng, Dims{Name: 4000, Price: 96}, 1, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := mustWriteArtefact(t, tc.m)
			got := mustReadArtefact(t, before)
			want := withArtefactVersion(tc.m)
			require.Equal(t, want, got)
			require.NotEmpty(t, got.Info.Version)
			// WriteTo did not touch m, and the result writes the same bytes.
			require.Equal(t, before, mustWriteArtefact(t, tc.m), "second WriteTo of the same model")
			if tc.m.Info.Version == "" {
				require.Empty(t, tc.m.Info.Version, "WriteTo modified m.Info.Version")
			}
			require.Equal(t, before, mustWriteArtefact(t, got), "WriteTo of the model read back")
		})
	}
}

// TestArtefactInfoEveryField fails when Info gains a field that artefactInfo
// does not set, so that the round-trip tests cover it and the format is
// updated for it.
func TestArtefactInfoEveryField(t *testing.T) {
	v := reflect.ValueOf(artefactInfo("v1"))
	for i := range v.NumField() {
		require.False(t, v.Field(i).IsZero(), "Info.%s is zero in artefactInfo: add it to the artefact and to artefactInfo", v.Type().Field(i).Name)
	}
	got := mustReadArtefact(t, mustWriteArtefact(t, &Model{
		Dims: Dims{Price: 1}, Tokens: NewVocab(), Categories: NewVocab(), Brands: NewVocab(),
		In:        Tables{Tokens: []float32{}, Categories: []float32{}, Brands: []float32{}, PriceW: []float32{1}, PriceB: []float32{2}, PriceUnknown: []float32{3}},
		Ctx:       Tables{Tokens: []float32{}, Categories: []float32{}, Brands: []float32{}, PriceW: []float32{4}, PriceB: []float32{5}, PriceUnknown: []float32{6}},
		PriceMean: 0, PriceScale: 1, Info: artefactInfo("v1"),
	}))
	require.Equal(t, artefactInfo("v1"), got.Info)
}

func TestArtefactTimes(t *testing.T) {
	now := time.Now() // with a monotonic clock reading
	for _, tc := range []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"zero", time.Time{}, time.Time{}},
		{"epoch", time.Unix(0, 0), time.Unix(0, 0).UTC()},
		{"local to utc", time.Date(2020, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), time.Date(2020, 1, 2, 2, 4, 5, 6, time.UTC)},
		{"monotonic dropped", now, time.Unix(0, now.UnixNano()).UTC()},
		{"earliest", time.Unix(0, math.MinInt64), time.Unix(0, math.MinInt64).UTC()},
		{"latest", time.Unix(0, math.MaxInt64), time.Unix(0, math.MaxInt64).UTC()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenArtefactModel()
			m.Info.From = tc.in
			got := mustReadArtefact(t, mustWriteArtefact(t, m))
			require.Equal(t, tc.want, got.Info.From)
		})
	}
}

// artefactCorpus is a tiny shop: two kinds of item bought together.
func artefactCorpus() Corpus {
	items := []Item{
		{ID: "1", Name: "Red Running Shoe", Category: "shoes.running", Brand: "Acme", Price: 89.9},
		{ID: "2", Name: "Blue Running Shoe", Category: "shoes.running", Brand: "Acme", Price: 79.5},
		{ID: "3", Name: "Running Socks", Category: "apparel.socks", Brand: "Sox", Price: 9.99},
		{ID: "4", Name: "Phone Case", Category: "electronics.accessories", Brand: "Caseco", Price: 19},
		{ID: "5", Name: "Smartphone X", Category: "electronics.smartphone", Brand: "Phonix", Price: 699},
		{ID: "6", Name: "", Category: "", Brand: "", Price: 0}, // no features but its ID
	}
	var sessions [][]Event
	for i := range 12 {
		sessions = append(sessions,
			[]Event{{Item: 0}, {Item: 1}, {Item: int32(i % 2), Purchase: true}, {Item: 2, Purchase: true}},
			[]Event{{Item: 4}, {Item: 3}, {Item: 5}, {Item: 4, Purchase: true}},
			[]Event{{Item: 2}, {Item: 3}}, // no purchase: dropped
		)
	}
	return Corpus{
		Items: items, Sessions: sessions,
		From: time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC),
		To:   time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC),
	}
}

func TestArtefactTrainedModel(t *testing.T) {
	c := artefactCorpus()
	m, err := Train(c, TrainConfig{Dims: Dims{Name: 8, Category: 4, Brand: 4, Price: 2}, Epochs: 3, Seed: 42})
	require.NoError(t, err)
	got := mustReadArtefact(t, mustWriteArtefact(t, m))
	require.Equal(t, withArtefactVersion(m), got)

	unseen := Item{ID: "new", Name: "Green Running Shoe", Category: "shoes.trail", Brand: "acme", Price: 120}
	for _, it := range append(c.Items, unseen) {
		require.Equal(t, m.Encode(it, nil), got.Encode(it, nil), "vector of item %q", it.ID)
	}
}

func TestArtefactGolden(t *testing.T) {
	m := goldenArtefactModel()
	b := mustWriteArtefact(t, m)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(goldenArtefact), 0o755))
		require.NoError(t, os.WriteFile(goldenArtefact, b, 0o644))
	}
	golden, err := os.ReadFile(goldenArtefact)
	require.NoError(t, err)
	require.Equal(t, golden, b, "WriteTo no longer reproduces %s: the format changed; if on purpose, bump ArtefactVersion and run go test -update", goldenArtefact)
	got := mustReadArtefact(t, golden)
	require.Equal(t, withArtefactVersion(m), got)
	require.Equal(t, m.Digest(), got.Info.Version)
	require.True(t, bytes.Contains(golden, []byte(m.Digest())), "the golden artefact holds the digest as the version")
}

func TestDigest(t *testing.T) {
	base := goldenArtefactModel()
	d := base.Digest()
	require.Regexp(t, `^m-[0-9a-f]{16}$`, d)

	otherInfo := goldenArtefactModel()
	otherInfo.Info = artefactInfo("named")
	require.Equal(t, d, otherInfo.Digest(), "Info must not change the digest")
	require.Equal(t, "named", mustReadArtefact(t, mustWriteArtefact(t, otherInfo)).Info.Version, "a set version is written as is")

	for _, tc := range []struct {
		name   string
		modify func(m *Model)
	}{
		{"a table value", func(m *Model) { m.Ctx.Brands[1] += 1.0 / 64 }},
		{"price mean", func(m *Model) { m.PriceMean = 3.25 }},
		{"a word", func(m *Model) { m.Brands = NewVocab(); m.Brands.Add("acne") }},
		{"dims", func(m *Model) {
			m.Dims.Name, m.Dims.Category = 1, 3
			m.In.Tokens, m.In.Categories = m.In.Tokens[:4], append(m.In.Categories, 0, 0, 0)
			m.Ctx.Tokens, m.Ctx.Categories = m.Ctx.Tokens[:4], append(m.Ctx.Categories, 0, 0, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenArtefactModel()
			tc.modify(m)
			got := m.Digest()
			require.NotEqual(t, d, got, "digest did not change")
			require.Equal(t, got, mustReadArtefact(t, mustWriteArtefact(t, m)).Info.Version)
		})
	}
}

// artefactErrors are the errors Read may return for bad input.
var artefactErrors = []error{ErrNotModel, ErrFormatVersion, ErrChecksum, ErrCorrupt, io.ErrUnexpectedEOF}

func requireArtefactError(t *testing.T, m *Model, err error, context string) {
	t.Helper()
	require.Error(t, err, context)
	require.Nil(t, m, context)
	for _, target := range artefactErrors {
		if errors.Is(err, target) {
			require.True(t, strings.HasPrefix(err.Error(), "model: "), "error %q lacks the package prefix", err)
			return
		}
	}
	require.Failf(t, "unclassified error", "%s: got %v, want one of %v", context, err, artefactErrors)
}

func TestReadByteFlips(t *testing.T) {
	good := mustWriteArtefact(t, goldenArtefactModel())
	t.Logf("artefact of %d bytes, %d variants", len(good), 255*len(good))
	kinds := map[string]int{}
	b := bytes.Clone(good)
	for i := range b {
		for x := 1; x < 256; x++ {
			b[i] = good[i] ^ byte(x)
			m, err := Read(bytes.NewReader(b))
			if err == nil || m != nil {
				t.Fatalf("byte %d xor %#02x: got a model (err %v), want an error", i, x, err)
			}
			requireArtefactError(t, m, err, fmt.Sprintf("byte %d xor %#02x", i, x))
			for _, target := range artefactErrors {
				if errors.Is(err, target) {
					kinds[target.Error()]++
				}
			}
		}
		b[i] = good[i]
	}
	t.Logf("errors: %v", kinds)
}

func TestReadTruncated(t *testing.T) {
	good := mustWriteArtefact(t, goldenArtefactModel())
	for n := range len(good) {
		m, err := Read(bytes.NewReader(good[:n]))
		want := io.ErrUnexpectedEOF
		if n == 0 {
			want = ErrNotModel
		}
		require.ErrorIs(t, err, want, "truncated to %d of %d bytes", n, len(good))
		require.Nil(t, m)
	}
}

func TestReadForeign(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")},
		{"text", []byte("item_id,name,category\n1,shoe,shoes\n")},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3}},
		{"one byte", []byte("x")},
		{"magic almost", []byte("SRECMODX\x01\x00")},
		{"magic lower case", []byte("srecmodl\x01\x00")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Read(bytes.NewReader(tc.in))
			require.ErrorIs(t, err, ErrNotModel)
			require.Nil(t, m)
		})
	}
}

func TestReadFormatVersion(t *testing.T) {
	b := mustWriteArtefact(t, goldenArtefactModel())
	binary.LittleEndian.PutUint16(b[8:], 3)
	m, err := Read(bytes.NewReader(fixArtefactChecksum(b)))
	require.ErrorIs(t, err, ErrFormatVersion)
	require.Nil(t, m)
	require.Contains(t, err.Error(), "version 3")
	require.Contains(t, err.Error(), "versions 1 and 2")
}

// A model with a session log is written as version 2 and reads back the
// same, byte for byte; without it, as version 1; the log is part of the
// digest.
func TestArtefactSessionLog(t *testing.T) {
	m := goldenArtefactModel()
	plain := mustWriteArtefact(t, m)
	require.Equal(t, uint16(1), binary.LittleEndian.Uint16(plain[8:]))
	m.Sessions = &SessionLog{Items: []string{"a", "b", "c"}, Sessions: [][]int32{{0, 1}, {2, 1, 2}}}
	b := mustWriteArtefact(t, m)
	require.Equal(t, uint16(2), binary.LittleEndian.Uint16(b[8:]))
	got, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, m.Sessions, got.Sessions)
	var again bytes.Buffer
	_, err = got.WriteTo(&again)
	require.NoError(t, err)
	require.Equal(t, b, again.Bytes())
	without := *m
	without.Sessions = nil
	require.NotEqual(t, without.Digest(), m.Digest())

	for name, l := range map[string]*SessionLog{
		"index out of range": {Items: []string{"a"}, Sessions: [][]int32{{0, 1}}},
		"empty session":      {Items: []string{"a"}, Sessions: [][]int32{{}}},
		"duplicate item":     {Items: []string{"a", "a"}, Sessions: [][]int32{{0, 1}}},
		"empty item":         {Items: []string{""}, Sessions: [][]int32{{0}}},
	} {
		t.Run(name, func(t *testing.T) {
			bad := *m
			bad.Sessions = l
			_, err := bad.WriteTo(io.Discard)
			require.Error(t, err)
			var buf bytes.Buffer
			_, err = bad.writeArtefact(&buf)
			require.NoError(t, err)
			_, err = Read(&buf)
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

func TestReadChecksum(t *testing.T) {
	good := mustWriteArtefact(t, goldenArtefactModel())
	for _, tc := range []struct {
		name   string
		modify func(b []byte)
	}{
		// The first In.Tokens value: its low mantissa bit keeps it finite.
		{"table value", func(b []byte) { b[bytes.Index(b, []byte("TIN "))+12] ^= 1 }},
		{"word", func(b []byte) { b[bytes.Index(b, []byte("acme"))] = 'b' }},
		{"checksum", func(b []byte) { b[len(b)-1] ^= 0x80 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.modify(b)
			m, err := Read(bytes.NewReader(b))
			require.ErrorIs(t, err, ErrChecksum)
			require.Nil(t, m)
		})
	}
}

func TestReadTrailingBytes(t *testing.T) {
	for _, extra := range []string{"\x00", "x", "SRECMODL"} {
		b := append(mustWriteArtefact(t, goldenArtefactModel()), extra...)
		m, err := Read(bytes.NewReader(b))
		require.ErrorIs(t, err, ErrCorrupt, "trailing %q", extra)
		require.Nil(t, m)
	}
}

// invalidArtefactModels are models WriteTo must refuse and whose artefacts, written
// anyway by writeArtefact, Read must refuse with ErrCorrupt.
func invalidArtefactModels() []struct {
	name   string
	modify func(m *Model)
} {
	return []struct {
		name   string
		modify func(m *Model)
	}{
		{"duplicate word", func(m *Model) { m.Tokens.words[2] = m.Tokens.words[1] }},
		{"empty word", func(m *Model) { m.Categories.words[1] = "" }},
		{"long word", func(m *Model) { m.Brands = NewVocab(); m.Brands.Add(strings.Repeat("x", maxWordBytes+1)) }},
		{"NaN in In.Tokens", func(m *Model) { m.In.Tokens[3] = float32(math.NaN()) }},
		{"Inf in Ctx.PriceB", func(m *Model) { m.Ctx.PriceB[0] = float32(math.Inf(-1)) }},
		{"short table", func(m *Model) { m.In.Categories = m.In.Categories[1:] }},
		{"long table", func(m *Model) { m.Ctx.Brands = append(m.Ctx.Brands, 0) }},
		{"long price layer", func(m *Model) { m.In.PriceW = append(m.In.PriceW, 0) }},
		{"zero price scale", func(m *Model) { m.PriceScale = 0 }},
		{"negative price scale", func(m *Model) { m.PriceScale = -1 }},
		{"NaN price mean", func(m *Model) { m.PriceMean = float32(math.NaN()) }},
		{"NaN info float", func(m *Model) { m.Info.Subsample = math.NaN() }},
		{"Inf info float", func(m *Model) { m.Info.LearningRate = float32(math.Inf(1)) }},
		{"zero dims", func(m *Model) {
			m.Dims = Dims{}
			for _, t := range []*Tables{&m.In, &m.Ctx} {
				*t = Tables{Tokens: []float32{}, Categories: []float32{}, Brands: []float32{}, PriceW: []float32{}, PriceB: []float32{}, PriceUnknown: []float32{}}
			}
		}},
		{"total dim above 4096", func(m *Model) {
			m.Dims.Name = 4096
			m.In.Tokens = make([]float32, m.Tokens.Len()*4096)
			m.Ctx.Tokens = make([]float32, m.Tokens.Len()*4096)
		}},
		{"long version", func(m *Model) { m.Info.Version = strings.Repeat("v", maxVersionBytes+1) }},
	}
}

func TestArtefactInvalidModels(t *testing.T) {
	for _, tc := range invalidArtefactModels() {
		t.Run(tc.name, func(t *testing.T) {
			m := goldenArtefactModel()
			tc.modify(m)
			var buf bytes.Buffer
			n, err := m.WriteTo(&buf)
			require.Error(t, err, "WriteTo")
			require.Zero(t, n, "WriteTo wrote bytes of an invalid model")
			require.Zero(t, buf.Len())

			buf.Reset()
			_, err = m.writeArtefact(&buf)
			require.NoError(t, err)
			got, err := Read(&buf)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Nil(t, got)
			t.Log(err)
		})
	}
}

func TestWriteToRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    func() *Model
	}{
		{"nil model", func() *Model { return nil }},
		{"nil vocabulary", func() *Model { m := goldenArtefactModel(); m.Brands = nil; return m }},
		{"zero vocabulary", func() *Model { m := goldenArtefactModel(); m.Brands = &Vocab{}; return m }},
		{"nil tables", func() *Model { m := goldenArtefactModel(); m.Ctx = Tables{}; return m }},
		{"time out of range", func() *Model {
			m := goldenArtefactModel()
			m.Info.To = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m()
			var buf bytes.Buffer
			n, err := m.WriteTo(&buf)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "model: write artefact: "), "got %q", err)
			require.Zero(t, n)
			require.Zero(t, buf.Len())
			if m != nil {
				require.NotPanics(t, func() { m.Digest() })
			}
		})
	}
}

// errArtefactRead is the error of a failing reader.
var errArtefactRead = errors.New("connection reset")

func TestReadReaderError(t *testing.T) {
	good := mustWriteArtefact(t, goldenArtefactModel())
	for _, n := range []int{0, 5, 8, 100, len(good) - 4, len(good)} {
		m, err := Read(io.MultiReader(bytes.NewReader(good[:n]), iotest.ErrReader(errArtefactRead)))
		require.ErrorIs(t, err, errArtefactRead, "failing after %d bytes", n)
		require.Nil(t, m)
		require.True(t, strings.HasPrefix(err.Error(), "model: read artefact"), "got %q", err)
	}
}

// artefactFailingWriter accepts limit bytes, then fails.
type artefactFailingWriter struct{ limit int }

var errArtefactWrite = errors.New("disk full")

func (w *artefactFailingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, errArtefactWrite
	}
	w.limit -= len(p)
	return len(p), nil
}

func TestWriteToWriterError(t *testing.T) {
	m := randomArtefactModel(rand.New(rand.NewPCG(artefactSeed, 2)), DefaultDims(), 2000, 10, 10)
	size := len(mustWriteArtefact(t, m))
	for _, limit := range []int{0, 10, ioChunk + 5, size - 1} {
		n, err := m.WriteTo(&artefactFailingWriter{limit: limit})
		require.ErrorIs(t, err, errArtefactWrite, "limit %d", limit)
		require.Equal(t, int64(limit), n, "bytes written before the failure")
	}
}

// craft returns an artefact of the given raw sections with a valid frame
// around them: magic, version, sections, checksum.
func craftArtefact(sections ...[]byte) []byte {
	b := []byte(artefactMagic)
	b = binary.LittleEndian.AppendUint16(b, ArtefactVersion)
	for _, s := range sections {
		b = append(b, s...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

func artefactSection(tag string, payload []byte) []byte {
	b := append([]byte(tag), binary.LittleEndian.AppendUint64(nil, uint64(len(payload)))...)
	return append(b, payload...)
}

func artefactHead(d Dims, tokens, cats, brands uint32) []byte {
	var b []byte
	for _, x := range []uint32{uint32(d.Name), uint32(d.Category), uint32(d.Brand), uint32(d.Price), tokens, cats, brands} {
		b = binary.LittleEndian.AppendUint32(b, x)
	}
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(0))
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(1))
}

// TestReadAbsurdSizes checks that sizes beyond the limits are refused from
// the header alone, and that a short input claiming a huge model costs
// little memory.
func TestReadAbsurdSizes(t *testing.T) {
	d := Dims{Name: 32, Category: 32, Brand: 32, Price: 4}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"vocabulary over 50M rows", craftArtefact(artefactSection(tagHead, artefactHead(d, maxVocabRows, 0, 0))), ErrCorrupt},
		{"table over 2^31 elements", craftArtefact(artefactSection(tagHead, artefactHead(Dims{Name: 4096}, 1<<20, 0, 0))), ErrCorrupt},
		{"part over 4096", craftArtefact(artefactSection(tagHead, artefactHead(Dims{Name: 1 << 31, Category: 1 << 31}, 0, 0, 0))), ErrCorrupt},
		{"total over 4096", craftArtefact(artefactSection(tagHead, artefactHead(Dims{Name: 4000, Category: 97}, 0, 0, 0))), ErrCorrupt},
		{"long header", craftArtefact(artefactSection(tagHead, append(artefactHead(d, 0, 0, 0), 0))), ErrCorrupt},
		{"huge section length", craftArtefact(append([]byte(tagHead), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), ErrCorrupt},
		{"wrong tag", craftArtefact(artefactSection(tagInfo, artefactHead(d, 0, 0, 0))), ErrCorrupt},
		{"vocabulary section too long", craftArtefact(artefactSection(tagHead, artefactHead(d, 1, 0, 0)), artefactSection(tagTokens, make([]byte, 5+maxWordBytes))), ErrCorrupt},
		{"word past its section", craftArtefact(artefactSection(tagHead, artefactHead(d, 1, 0, 0)), artefactSection(tagTokens, []byte{9, 0, 0, 0, 'a'})), ErrCorrupt},
		{"huge word", craftArtefact(artefactSection(tagHead, artefactHead(d, 1, 0, 0)), artefactSection(tagTokens, []byte{0xff, 0xff, 0xff, 0x7f})), ErrCorrupt},
		// 49,999,999 words claimed, none present.
		{"claimed words missing", craftArtefact(artefactSection(tagHead, artefactHead(d, maxVocabRows-1, 0, 0)), artefactSection(tagTokens, nil)), ErrCorrupt},
		{"claimed words truncated", craftArtefact(artefactSection(tagHead, artefactHead(d, maxVocabRows-1, 0, 0))), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Read(bytes.NewReader(tc.in))
			require.ErrorIs(t, err, tc.want)
			require.Nil(t, m)
			t.Log(err)
		})
	}

	// A valid header and vocabulary that claim In.Tokens of 4096 x 200,001
	// elements (3.3 GB), then end.
	const words = 200_000
	var vocab []byte
	for i := range words {
		w := fmt.Sprintf("w%d", i)
		vocab = binary.LittleEndian.AppendUint32(vocab, uint32(len(w)))
		vocab = append(vocab, w...)
	}
	in := craftArtefact(artefactSection(tagHead, artefactHead(Dims{Name: 4096}, words, 0, 0)), artefactSection(tagTokens, vocab),
		artefactSection(tagCats, nil), artefactSection(tagBrands, nil))
	in = append(in[:len(in)-4], []byte(tagIn)...)
	in = binary.LittleEndian.AppendUint64(in, 4*4096*(words+1))
	in = append(in, make([]byte, 1<<20)...) // 1 MiB of the 3.3 GB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	m, err := Read(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Nil(t, m)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d MiB for a %d MiB input claiming a %d MiB table", allocated>>20, len(in)>>20, 4*4096*(words+1)>>20)
	require.Less(t, allocated, uint64(128<<20), "Read allocated for the claimed size, not the bytes present")
}

// BenchmarkWriteRead writes and reads a model of 40k tokens with the
// default dims (100).
func BenchmarkWriteRead(b *testing.B) {
	m := randomArtefactModel(rand.New(rand.NewPCG(artefactSeed, 3)), DefaultDims(), 40_000, 2_000, 5_000)
	data := mustWriteArtefact(b, m)
	b.Logf("artefact of %.1f MB", float64(len(data))/1e6)
	b.Run("Write", func(b *testing.B) {
		var buf bytes.Buffer
		buf.Grow(len(data))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			buf.Reset()
			if _, err := m.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Read", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := Read(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("WriteRead", func(b *testing.B) {
		var buf bytes.Buffer
		buf.Grow(len(data))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			buf.Reset()
			if _, err := m.WriteTo(&buf); err != nil {
				b.Fatal(err)
			}
			if _, err := Read(&buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Digest", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			m.Digest()
		}
	})
}
