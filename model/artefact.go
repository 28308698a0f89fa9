package model

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"time"
)

// The artefact is a model as a byte stream: what training writes and
// serving reads. It is little-endian throughout and laid out as
//
//	magic     8 bytes  "SRECMODL"
//	version   uint16   ArtefactVersion (1)
//	HEAD      section  Dims as 4 x uint32 (Name, Category, Brand, Price);
//	                   words per vocabulary as 3 x uint32 (Tokens,
//	                   Categories, Brands; row 0, the unknown row, is not
//	                   counted); PriceMean, PriceScale as float32
//	TOKS      section  the token words of rows 1.., each a uint32 byte
//	CATS      section  length and the bytes; likewise the categories
//	BRND      section  and the brands
//	TIN       section  In: Tokens, Categories, Brands, PriceW, PriceB,
//	TCTX      section  PriceUnknown as float32 arrays; likewise Ctx
//	SESS      section  version 2 only: the SessionLog, as uint32 item
//	                   count n, uint32 session count s, uint64 entry
//	                   count e; n item IDs, each a uint32 byte length and
//	                   the bytes; s uint32 session lengths (each >= 1,
//	                   summing to e); e uint32 item indices (< n)
//	INFO      section  Info; see appendInfo
//	checksum  uint32   CRC-32C (Castagnoli) of every byte before it
//
// A section is a 4-byte tag, a uint64 payload length and the payload. The
// header section comes first so that a reader knows the size of every later
// section, and can refuse a size that is absurd or does not match, before
// it allocates anything. INFO comes last so that a writer can hash the
// parameter sections (HEAD to TCTX) into the version id as it streams them.
//
// Every model has exactly one encoding: Read refuses anything WriteTo would
// not write, so that Read then WriteTo reproduces the input byte for byte.
//
// Words are stored as their bytes. They are UTF-8 when they come from
// Item's methods, but neither side checks it: an item ID (the token of an
// item without a name) may hold any bytes, and a model trained on it must
// still save and load with the same rows.

// ArtefactVersion is the newest version of the artefact format, the one
// WriteTo writes for a model with a SessionLog; a model without one is
// written as version 1, which has no SESS section, so that a model keeps
// its one encoding and its digest. Read reads versions 1 and 2 and refuses
// every other with ErrFormatVersion.
const ArtefactVersion = 2

const (
	artefactMagic = "SRECMODL"

	tagHead   = "HEAD"
	tagTokens = "TOKS"
	tagCats   = "CATS"
	tagBrands = "BRND"
	tagIn     = "TIN "
	tagCtx    = "TCTX"
	tagSess   = "SESS"
	tagInfo   = "INFO"

	// Limits Read enforces before it allocates, and WriteTo before it
	// writes. The total dimension is bounded by Dims.validate (4096).
	maxVocabRows     = 50_000_000      // rows of a vocabulary, the unknown row included
	maxTableElements = math.MaxInt32   // elements of one embedding table
	maxWordBytes     = 1 << 16         // bytes of one vocabulary word
	maxVersionBytes  = 1 << 10         // bytes of Info.Version
	maxSessionItems  = 1 << 28         // entries of a SessionLog
	maxDim           = 4096            // of each part, checked before Dims.validate
	headBytes        = 4*4 + 3*4 + 2*4 // HEAD payload
	// infoFixedBytes is the INFO payload without the version's bytes: see
	// appendInfo.
	infoFixedBytes = 4 + 5*8 + 1 + 2*8 + 2*4 + 8 + 8 + 4*8 + 2*8 + 2*(1+8)

	// ioChunk is the size of the write buffer and of the largest read.
	ioChunk = 64 << 10
	// tablePrealloc is the number of elements (16 MiB) up to which Read
	// allocates a table before its bytes have arrived.
	tablePrealloc = 1 << 22
)

var (
	// ErrNotModel is returned by Read when its input does not start with the
	// artefact magic: another kind of file, or an empty one.
	ErrNotModel = errors.New("model: not a model artefact")
	// ErrFormatVersion is returned by Read, wrapped with both versions, for
	// an artefact of a format version it does not read.
	ErrFormatVersion = errors.New("model: unsupported artefact format version")
	// ErrChecksum is returned by Read when the artefact is well formed but
	// its checksum does not match its content: it was damaged.
	ErrChecksum = errors.New("model: artefact checksum mismatch")
	// ErrCorrupt is returned by Read, wrapped with the section and what is
	// wrong, when the artefact is inconsistent or out of range: sizes that
	// do not match the dims and vocabularies or exceed Read's limits,
	// duplicate or empty words, NaN or infinite values, bytes after the
	// checksum. Damage that breaks the structure before the checksum is
	// reached gives ErrCorrupt rather than ErrChecksum.
	ErrCorrupt = errors.New("model: corrupt model artefact")
)

var _ io.WriterTo = (*Model)(nil)

// WriteTo writes m to w as an artefact (format version ArtefactVersion) and
// returns the number of bytes written. It writes in chunks of 64 KiB, so w
// need not be buffered.
//
// When m.Info.Version is empty, the artefact carries m.Digest() as the
// version instead, so that Read returns a model whose Info.Version is never
// empty. WriteTo does not modify m and is safe to call concurrently with
// other readers of m.
//
// WriteTo refuses, before writing anything, a model that Read would refuse:
// dims out of range; a nil or inconsistent vocabulary (row 0 must be the
// unknown row ""; words must be distinct, non-empty and at most 64 KiB); a
// vocabulary of more than 50M rows; a table whose length is not its
// vocabulary's Len() times its part of Dims (Dims.Price for the price
// layer) or exceeds 2^31-1 elements; a NaN or infinite value in a table,
// PriceMean, PriceScale or Info; PriceScale <= 0; Info.Version longer than
// 1 KiB; or Info.From or Info.To, when not zero, outside the years 1678 to
// 2262 (int64 nanoseconds since 1970).
//
// Info's times are written as instants: Read returns them in UTC and
// without a monotonic clock reading.
func (m *Model) WriteTo(w io.Writer) (int64, error) {
	if err := m.checkWritable(); err != nil {
		return 0, fmt.Errorf("model: write artefact: %w", err)
	}
	n, err := m.writeArtefact(w)
	if err != nil {
		return n, fmt.Errorf("model: write artefact: %w", err)
	}
	return n, nil
}

// Digest returns the content id of m's parameters: "m-" and the first 16
// hex digits of the SHA-256 of their encoding in the artefact (the HEAD,
// vocabulary and table sections: dims, price normalisation, vocabularies,
// In and Ctx; not Info). It is the version WriteTo writes when
// m.Info.Version is empty. Models with equal parameters have equal digests
// whatever their Info; the digest of given parameters is stable for a given
// ArtefactVersion.
//
// Digest reads every parameter (some 10 ms for a model of 40k tokens and
// dims 100); it is safe to call concurrently with other readers of m. For a
// non-nil model that WriteTo refuses the digest is of no use, but Digest
// does not panic.
func (m *Model) Digest() string {
	aw := &artefactWriter{w: io.Discard, buf: make([]byte, 0, ioChunk), sha: sha256.New()}
	m.writeParams(aw)
	if m.Sessions != nil {
		m.Sessions.write(aw)
	}
	aw.flush()
	return digestID(aw.sha)
}

func digestID(h hash.Hash) string {
	return "m-" + hex.EncodeToString(h.Sum(nil)[:8])
}

// writeArtefact writes m as an artefact without validating it first: tests
// use it to make artefacts that Read must refuse.
func (m *Model) writeArtefact(w io.Writer) (int64, error) {
	aw := &artefactWriter{
		w:   w,
		buf: make([]byte, 0, ioChunk),
		crc: crc32.New(crc32.MakeTable(crc32.Castagnoli)),
	}
	writeBytes(aw, artefactMagic)
	version := uint16(1)
	if m.Sessions != nil {
		version = ArtefactVersion
	}
	writeBytes(aw, binary.LittleEndian.AppendUint16(nil, version))
	// Flush before and after the parameters so that sha sees exactly them.
	aw.flush()
	id := m.Info.Version
	if id == "" {
		aw.sha = sha256.New()
	}
	m.writeParams(aw)
	if m.Sessions != nil {
		m.Sessions.write(aw)
	}
	aw.flush()
	if aw.sha != nil {
		id = digestID(aw.sha)
		aw.sha = nil
	}
	info := appendInfo(make([]byte, 0, infoFixedBytes+len(id)), &m.Info, id)
	aw.section(tagInfo, len(info))
	writeBytes(aw, info)
	aw.flush()
	sum := aw.crc.Sum32()
	aw.crc = nil
	writeBytes(aw, binary.LittleEndian.AppendUint32(nil, sum))
	aw.flush()
	return aw.n, aw.err
}

// writeParams writes the parameter sections, HEAD to TCTX. It writes what
// it finds, valid or not; a nil vocabulary counts as one without words.
func (m *Model) writeParams(aw *artefactWriter) {
	vocabs := m.vocabs()
	head := make([]byte, 0, headBytes)
	for _, d := range [...]int{m.Dims.Name, m.Dims.Category, m.Dims.Brand, m.Dims.Price} {
		head = binary.LittleEndian.AppendUint32(head, uint32(d))
	}
	for _, v := range vocabs {
		head = binary.LittleEndian.AppendUint32(head, uint32(len(v.words)))
	}
	head = binary.LittleEndian.AppendUint32(head, math.Float32bits(m.PriceMean))
	head = binary.LittleEndian.AppendUint32(head, math.Float32bits(m.PriceScale))
	aw.section(tagHead, len(head))
	writeBytes(aw, head)

	var u32 [4]byte
	for _, v := range vocabs {
		size := 0
		for _, w := range v.words {
			size += 4 + len(w)
		}
		aw.section(v.tag, size)
		for _, w := range v.words {
			writeBytes(aw, binary.LittleEndian.AppendUint32(u32[:0], uint32(len(w))))
			writeBytes(aw, w)
		}
	}

	for _, t := range [...]struct {
		tag    string
		tables *Tables
	}{{tagIn, &m.In}, {tagCtx, &m.Ctx}} {
		arrays := t.tables.arrays()
		size := 0
		for _, a := range arrays {
			size += 4 * len(a)
		}
		aw.section(t.tag, size)
		for _, a := range arrays {
			aw.floats(a)
		}
	}
}

// vocabWords is a vocabulary as the artefact holds it.
type vocabWords struct {
	tag, name string
	v         *Vocab
	words     []string // rows 1..; row 0 is implicit
}

func (m *Model) vocabs() [3]vocabWords {
	vs := [3]vocabWords{
		{tag: tagTokens, name: "tokens", v: m.Tokens},
		{tag: tagCats, name: "categories", v: m.Categories},
		{tag: tagBrands, name: "brands", v: m.Brands},
	}
	for i := range vs {
		if v := vs[i].v; v != nil && len(v.words) > 0 {
			vs[i].words = v.words[1:]
		}
	}
	return vs
}

// arrays returns the parameters of t in the order of the artefact.
func (t *Tables) arrays() [6][]float32 {
	return [6][]float32{t.Tokens, t.Categories, t.Brands, t.PriceW, t.PriceB, t.PriceUnknown}
}

var tableArrayNames = [6]string{"Tokens", "Categories", "Brands", "PriceW", "PriceB", "PriceUnknown"}

// tableLens returns the lengths the arrays of a Tables must have for dims d
// and vocabularies of the given numbers of rows.
func tableLens(d Dims, tokenRows, catRows, brandRows uint64) [6]uint64 {
	p := uint64(d.Price)
	return [6]uint64{tokenRows * uint64(d.Name), catRows * uint64(d.Category), brandRows * uint64(d.Brand), p, p, p}
}

// appendInfo appends the INFO payload: version as a uint32 length and its
// bytes; Epochs, Negatives, PartSize, MaxPart, MaxEvents as int64; KeepAll
// as a byte 0 or 1; NegativePower, Subsample as float64; LearningRate,
// PurchaseWeight as float32; Workers as int64; Seed as uint64; Sessions,
// KeptSessions, Items, TrainedItems, Events, Pairs as int64; From and To
// each as a byte (0 for the zero time, else 1) and int64 nanoseconds since
// 1970 (0 for the zero time). readInfo is its inverse.
func appendInfo(b []byte, in *Info, version string) []byte {
	le := binary.LittleEndian
	b = le.AppendUint32(b, uint32(len(version)))
	b = append(b, version...)
	for _, x := range [...]int{in.Epochs, in.Negatives, in.PartSize, in.MaxPart, in.MaxEvents} {
		b = le.AppendUint64(b, uint64(int64(x)))
	}
	b = append(b, boolByte(in.KeepAll))
	b = le.AppendUint64(b, math.Float64bits(in.NegativePower))
	b = le.AppendUint64(b, math.Float64bits(in.Subsample))
	b = le.AppendUint32(b, math.Float32bits(in.LearningRate))
	b = le.AppendUint32(b, math.Float32bits(in.PurchaseWeight))
	b = le.AppendUint64(b, uint64(int64(in.Workers)))
	b = le.AppendUint64(b, in.Seed)
	for _, x := range [...]int64{
		int64(in.Sessions), int64(in.KeptSessions), int64(in.Items), int64(in.TrainedItems), in.Events, in.Pairs,
	} {
		b = le.AppendUint64(b, uint64(x))
	}
	for _, t := range [...]time.Time{in.From, in.To} {
		if t.IsZero() {
			b = append(b, 0)
			b = le.AppendUint64(b, 0)
		} else {
			b = append(b, 1)
			b = le.AppendUint64(b, uint64(t.UnixNano()))
		}
	}
	return b
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// artefactWriter buffers what it is given and passes it on in chunks to w
// and to the hashes that are set. The first error sticks and makes the
// rest no-ops.
type artefactWriter struct {
	w   io.Writer
	crc hash.Hash32 // nil: not checksummed
	sha hash.Hash   // nil: not digested
	buf []byte
	n   int64
	err error
}

func (aw *artefactWriter) flush() {
	if aw.err != nil || len(aw.buf) == 0 {
		return
	}
	if aw.crc != nil {
		aw.crc.Write(aw.buf)
	}
	if aw.sha != nil {
		aw.sha.Write(aw.buf)
	}
	n, err := aw.w.Write(aw.buf)
	aw.n += int64(n)
	if err == nil && n < len(aw.buf) {
		err = io.ErrShortWrite
	}
	aw.err = err
	aw.buf = aw.buf[:0]
}

func writeBytes[S []byte | string](aw *artefactWriter, p S) {
	for len(p) > 0 && aw.err == nil {
		if len(aw.buf) == cap(aw.buf) {
			aw.flush()
			continue
		}
		k := copy(aw.buf[len(aw.buf):cap(aw.buf)], p)
		aw.buf = aw.buf[:len(aw.buf)+k]
		p = p[k:]
	}
}

func (aw *artefactWriter) section(tag string, size int) {
	var b [12]byte
	copy(b[:4], tag)
	binary.LittleEndian.PutUint64(b[4:], uint64(size))
	writeBytes(aw, b[:])
}

func (aw *artefactWriter) floats(xs []float32) {
	for len(xs) > 0 && aw.err == nil {
		room := (cap(aw.buf) - len(aw.buf)) / 4
		if room == 0 {
			aw.flush()
			continue
		}
		k := min(room, len(xs))
		b := aw.buf[len(aw.buf) : len(aw.buf)+4*k]
		for i, x := range xs[:k] {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		aw.buf = aw.buf[:len(aw.buf)+4*k]
		xs = xs[k:]
	}
}

// checkWritable returns why Read would refuse the artefact of m, or nil.
func (m *Model) checkWritable() error {
	if m == nil {
		return errors.New("nil model")
	}
	d := m.Dims
	if d.validate() != nil {
		return fmt.Errorf("dims %+v: want each >= 0 and a total in [1, %d]", d, maxDim)
	}
	vocabs := m.vocabs()
	for _, vw := range vocabs {
		if err := checkVocab(vw.v); err != nil {
			return fmt.Errorf("%s: %w", vw.name, err)
		}
	}
	for _, t := range [...]struct {
		name   string
		tables *Tables
	}{{"In", &m.In}, {"Ctx", &m.Ctx}} {
		want := tableLens(d, uint64(m.Tokens.Len()), uint64(m.Categories.Len()), uint64(m.Brands.Len()))
		for i, a := range t.tables.arrays() {
			if want[i] > maxTableElements {
				return fmt.Errorf("%s.%s: %d elements, limit %d", t.name, tableArrayNames[i], want[i], maxTableElements)
			}
			if uint64(len(a)) != want[i] {
				return fmt.Errorf("%s.%s: %d elements, want %d", t.name, tableArrayNames[i], len(a), want[i])
			}
			for j, x := range a {
				if !finite32(x) {
					return fmt.Errorf("%s.%s[%d] is %v", t.name, tableArrayNames[i], j, x)
				}
			}
		}
	}
	if !finite32(m.PriceMean) || !finite32(m.PriceScale) || !(m.PriceScale > 0) {
		return fmt.Errorf("price mean %v, scale %v: want finite, scale > 0", m.PriceMean, m.PriceScale)
	}
	if err := checkInfo(&m.Info); err != nil {
		return fmt.Errorf("info: %w", err)
	}
	if m.Sessions != nil {
		if err := m.Sessions.check(); err != nil {
			return fmt.Errorf("sessions: %w", err)
		}
	}
	return nil
}

func checkVocab(v *Vocab) error {
	switch {
	case v == nil:
		return errors.New("nil vocabulary")
	case len(v.words) == 0 || v.words[0] != "":
		return errors.New("vocabulary without the unknown row 0")
	case len(v.words) > maxVocabRows:
		return fmt.Errorf("%d rows, limit %d", len(v.words), maxVocabRows)
	case len(v.index) != len(v.words)-1:
		return fmt.Errorf("index of %d words for %d rows", len(v.index), len(v.words))
	}
	for r, w := range v.words[1:] {
		switch {
		case w == "":
			return fmt.Errorf("row %d: empty word", r+1)
		case len(w) > maxWordBytes:
			return fmt.Errorf("row %d: word of %d bytes, limit %d", r+1, len(w), maxWordBytes)
		case v.index[w] != int32(r+1):
			return fmt.Errorf("row %d: word %q indexed as row %d", r+1, w, v.index[w])
		}
	}
	return nil
}

func checkInfo(in *Info) error {
	if len(in.Version) > maxVersionBytes {
		return fmt.Errorf("version of %d bytes, limit %d", len(in.Version), maxVersionBytes)
	}
	if !finite64(in.NegativePower) || !finite64(in.Subsample) || !finite32(in.LearningRate) || !finite32(in.PurchaseWeight) {
		return fmt.Errorf("negative power %v, subsample %v, learning rate %v, purchase weight %v: want finite",
			in.NegativePower, in.Subsample, in.LearningRate, in.PurchaseWeight)
	}
	for _, t := range [...]time.Time{in.From, in.To} {
		if !t.IsZero() && !time.Unix(0, t.UnixNano()).Equal(t) {
			return fmt.Errorf("time %v outside the range of int64 nanoseconds since 1970", t)
		}
	}
	return nil
}

func finite32(x float32) bool { return math.Float32bits(x)&0x7f800000 != 0x7f800000 }

func finite64(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Read reads a model artefact written by WriteTo: the whole of r, which must
// end right after the checksum. It reads through a bufio.Reader, so r need
// not be buffered. The returned model is new and owned by the caller; its
// Info.Version is never empty (see WriteTo), its Info times are in UTC, and
// tables of zero length are empty, not nil.
//
// Read validates everything and never panics:
//   - input that does not start with the magic, or is empty, gives
//     ErrNotModel;
//   - another format version gives a wrapped ErrFormatVersion;
//   - input that ends early gives a wrapped io.ErrUnexpectedEOF;
//   - a checksum that does not match gives a wrapped ErrChecksum;
//   - anything inconsistent or out of range gives a wrapped ErrCorrupt
//     (see ErrCorrupt and the limits WriteTo lists).
//
// Every size is checked against the header and the limits before anything
// is allocated for it, and tables are allocated in steps as their bytes
// arrive, so a short input that claims a large model costs little memory.
// Other errors of r are returned wrapped.
func Read(r io.Reader) (*Model, error) {
	// Tables are read in chunks of ioChunk bytes, which bufio passes
	// straight through; its own buffer serves the small reads.
	br := bufio.NewReader(r)
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	ar := &artefactReader{in: io.TeeReader(br, crc), buf: make([]byte, 0, 4<<10)}
	m, err := ar.read()
	if err != nil {
		return nil, err
	}
	want := crc.Sum32()
	ar.in, ar.where = br, "checksum"
	b, err := ar.full(4)
	if err != nil {
		return nil, err
	}
	if got := binary.LittleEndian.Uint32(b); got != want {
		return nil, fmt.Errorf("%w: stored %#08x, content has %#08x", ErrChecksum, got, want)
	}
	switch _, err := br.ReadByte(); {
	case err == nil:
		return nil, fmt.Errorf("%w: bytes after the checksum", ErrCorrupt)
	case !errors.Is(err, io.EOF):
		return nil, fmt.Errorf("model: read artefact: %w", err)
	}
	return m, nil
}

// artefactReader reads the artefact up to the checksum.
type artefactReader struct {
	in    io.Reader
	where string // what is being read, for errors
	left  uint64 // bytes left in the current section
	buf   []byte // scratch, grown up to ioChunk bytes as needed
}

// full reads n <= ioChunk bytes into ar.buf and returns them.
func (ar *artefactReader) full(n int) ([]byte, error) {
	if cap(ar.buf) < n {
		ar.buf = make([]byte, 0, ioChunk)
	}
	b := ar.buf[:n]
	if _, err := io.ReadFull(ar.in, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("model: truncated artefact in %s: %w", ar.where, io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("model: read artefact %s: %w", ar.where, err)
	}
	return b, nil
}

// take reads n bytes of the current section.
func (ar *artefactReader) take(n int) ([]byte, error) {
	if uint64(n) > ar.left {
		return nil, ar.corrupt("%d bytes wanted, %d left in the section", n, ar.left)
	}
	b, err := ar.full(n)
	ar.left -= uint64(n)
	return b, err
}

func (ar *artefactReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorrupt, ar.where, fmt.Sprintf(format, args...))
}

// begin reads the frame of the next section, which must be tag with a
// payload of lo to hi bytes.
func (ar *artefactReader) begin(tag string, lo, hi uint64) error {
	ar.where = fmt.Sprintf("section %q", tag)
	b, err := ar.full(12)
	if err != nil {
		return err
	}
	if string(b[:4]) != tag {
		return ar.corrupt("found tag %q", b[:4])
	}
	n := binary.LittleEndian.Uint64(b[4:])
	if n < lo || n > hi {
		if lo == hi {
			return ar.corrupt("payload of %d bytes, want %d", n, lo)
		}
		return ar.corrupt("payload of %d bytes, want %d to %d", n, lo, hi)
	}
	ar.left = n
	return nil
}

// end checks that the current section has been read to its end.
func (ar *artefactReader) end() error {
	if ar.left != 0 {
		return ar.corrupt("%d bytes left unread", ar.left)
	}
	return nil
}

func (ar *artefactReader) read() (*Model, error) {
	if err := ar.magic(); err != nil {
		return nil, err
	}
	ar.where = "format version"
	b, err := ar.full(2)
	if err != nil {
		return nil, err
	}
	version := binary.LittleEndian.Uint16(b)
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("%w %d: this reader reads versions 1 and 2", ErrFormatVersion, version)
	}

	m := &Model{}
	words, err := ar.head(m)
	if err != nil {
		return nil, err
	}
	for i, p := range [...]**Vocab{&m.Tokens, &m.Categories, &m.Brands} {
		if *p, err = ar.vocab([...]string{tagTokens, tagCats, tagBrands}[i], words[i]); err != nil {
			return nil, err
		}
	}
	lens := tableLens(m.Dims, uint64(m.Tokens.Len()), uint64(m.Categories.Len()), uint64(m.Brands.Len()))
	if m.In, err = ar.tables(tagIn, lens); err != nil {
		return nil, err
	}
	if m.Ctx, err = ar.tables(tagCtx, lens); err != nil {
		return nil, err
	}
	if version == 2 {
		if m.Sessions, err = ar.sessions(); err != nil {
			return nil, err
		}
	}
	if err := ar.info(&m.Info); err != nil {
		return nil, err
	}
	return m, nil
}

func (ar *artefactReader) magic() error {
	var b [len(artefactMagic)]byte
	n, err := io.ReadFull(ar.in, b[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return fmt.Errorf("%w: empty input", ErrNotModel)
	case string(b[:n]) != artefactMagic[:n]:
		return fmt.Errorf("%w: input starts with %q", ErrNotModel, b[:n])
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("model: truncated artefact in magic: %w", io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("model: read artefact magic: %w", err)
	}
	return nil
}

// head reads the HEAD section into m and returns the number of words of
// each vocabulary. It checks every size the header implies.
func (ar *artefactReader) head(m *Model) ([3]int, error) {
	var words [3]int
	if err := ar.begin(tagHead, headBytes, headBytes); err != nil {
		return words, err
	}
	b, err := ar.take(headBytes)
	if err != nil {
		return words, err
	}
	le := binary.LittleEndian
	var dims [4]int
	for i := range dims {
		x := le.Uint32(b[4*i:])
		if x > maxDim {
			return words, ar.corrupt("dimension %d, limit %d", x, maxDim)
		}
		dims[i] = int(x)
	}
	m.Dims = Dims{Name: dims[0], Category: dims[1], Brand: dims[2], Price: dims[3]}
	if m.Dims.validate() != nil {
		return words, ar.corrupt("dims %+v: want a total in [1, %d]", m.Dims, maxDim)
	}
	var rows [3]uint64
	for i := range words {
		x := le.Uint32(b[16+4*i:])
		if uint64(x)+1 > maxVocabRows {
			return words, ar.corrupt("vocabulary of %d rows, limit %d", uint64(x)+1, maxVocabRows)
		}
		words[i] = int(x)
		rows[i] = uint64(x) + 1
	}
	lens := tableLens(m.Dims, rows[0], rows[1], rows[2])
	for i, n := range lens {
		if n > maxTableElements {
			return words, ar.corrupt("table %s of %d elements, limit %d", tableArrayNames[i], n, maxTableElements)
		}
	}
	m.PriceMean = math.Float32frombits(le.Uint32(b[28:]))
	m.PriceScale = math.Float32frombits(le.Uint32(b[32:]))
	if !finite32(m.PriceMean) || !finite32(m.PriceScale) || !(m.PriceScale > 0) {
		return words, ar.corrupt("price mean %v, scale %v: want finite, scale > 0", m.PriceMean, m.PriceScale)
	}
	return words, ar.end()
}

func (ar *artefactReader) vocab(tag string, words int) (*Vocab, error) {
	if err := ar.begin(tag, 4*uint64(words), uint64(words)*(4+maxWordBytes)); err != nil {
		return nil, err
	}
	// Grow with the words read rather than trust the count up front.
	v := &Vocab{words: make([]string, 1, 1+min(words, 1<<12)), index: make(map[string]int32, min(words, 1<<12))}
	for r := 1; r <= words; r++ {
		b, err := ar.take(4)
		if err != nil {
			return nil, err
		}
		n := binary.LittleEndian.Uint32(b)
		if n == 0 {
			return nil, ar.corrupt("row %d: empty word", r)
		}
		if n > maxWordBytes {
			return nil, ar.corrupt("row %d: word of %d bytes, limit %d", r, n, maxWordBytes)
		}
		if b, err = ar.take(int(n)); err != nil {
			return nil, err
		}
		w := string(b)
		if prev, dup := v.index[w]; dup {
			return nil, ar.corrupt("row %d: word %q already at row %d", r, w, prev)
		}
		v.index[w] = int32(r)
		v.words = append(v.words, w)
	}
	return v, ar.end()
}

func (ar *artefactReader) tables(tag string, lens [6]uint64) (Tables, error) {
	var size uint64
	for _, n := range lens {
		size += 4 * n
	}
	if err := ar.begin(tag, size, size); err != nil {
		return Tables{}, err
	}
	var arrays [6][]float32
	for i, n := range lens {
		var err error
		if arrays[i], err = ar.floats(int(n), tableArrayNames[i]); err != nil {
			return Tables{}, err
		}
	}
	return Tables{
		Tokens: arrays[0], Categories: arrays[1], Brands: arrays[2],
		PriceW: arrays[3], PriceB: arrays[4], PriceUnknown: arrays[5],
	}, ar.end()
}

// floats reads n float32s, all finite. It allocates a table of up to
// tablePrealloc elements at once; a larger one it grows by doubling as its
// bytes arrive, so that a short input cannot make it allocate more than
// twice what it holds. The result has a capacity of exactly n.
func (ar *artefactReader) floats(n int, name string) ([]float32, error) {
	out := make([]float32, 0, min(n, tablePrealloc))
	for len(out) < n {
		if len(out) == cap(out) {
			grown := make([]float32, len(out), min(n, 2*cap(out)))
			copy(grown, out)
			out = grown
		}
		k := min(cap(out)-len(out), ioChunk/4)
		b, err := ar.take(4 * k)
		if err != nil {
			return nil, err
		}
		dst := out[len(out) : len(out)+k]
		for i := range dst {
			x := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			if !finite32(x) {
				return nil, ar.corrupt("%s[%d] is %v", name, len(out)+i, x)
			}
			dst[i] = x
		}
		out = out[:len(out)+k]
	}
	return out, nil
}

// info reads the INFO section: see appendInfo.
func (ar *artefactReader) info(in *Info) error {
	if err := ar.begin(tagInfo, infoFixedBytes+1, infoFixedBytes+maxVersionBytes); err != nil {
		return err
	}
	b, err := ar.take(int(ar.left))
	if err != nil {
		return err
	}
	le := binary.LittleEndian
	if n := le.Uint32(b); uint64(n) != uint64(len(b)-infoFixedBytes) {
		return ar.corrupt("version of %d bytes in a section for %d", n, len(b)-infoFixedBytes)
	}
	in.Version = string(b[4 : len(b)-infoFixedBytes+4])
	b = b[len(b)-infoFixedBytes+4:]
	i64 := func() int64 {
		x := int64(le.Uint64(b))
		b = b[8:]
		return x
	}
	fits := true
	count := func() int {
		x := i64()
		fits = fits && int64(int(x)) == x
		return int(x)
	}
	in.Epochs = count()
	in.Negatives = count()
	in.PartSize = count()
	in.MaxPart = count()
	in.MaxEvents = count()
	keepAll := b[0]
	b = b[1:]
	in.KeepAll = keepAll == 1
	in.NegativePower = math.Float64frombits(uint64(i64()))
	in.Subsample = math.Float64frombits(uint64(i64()))
	in.LearningRate = math.Float32frombits(le.Uint32(b))
	in.PurchaseWeight = math.Float32frombits(le.Uint32(b[4:]))
	b = b[8:]
	in.Workers = count()
	in.Seed = uint64(i64())
	in.Sessions = count()
	in.KeptSessions = count()
	in.Items = count()
	in.TrainedItems = count()
	in.Events = i64()
	in.Pairs = i64()
	var times [2]time.Time
	for i := range times {
		flag := b[0]
		b = b[1:]
		ns := i64()
		switch {
		case flag == 1:
			times[i] = time.Unix(0, ns).UTC()
		case flag != 0 || ns != 0:
			return ar.corrupt("time flag %d with %d ns", flag, ns)
		}
	}
	in.From, in.To = times[0], times[1]
	switch {
	case keepAll > 1:
		return ar.corrupt("keep-all byte %d", keepAll)
	case !fits:
		return ar.corrupt("a count does not fit an int")
	}
	if err := checkInfo(in); err != nil {
		return ar.corrupt("%v", err)
	}
	return ar.end()
}
