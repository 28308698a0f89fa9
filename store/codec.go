package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrCorrupt is returned when a stored value cannot be decoded.
var ErrCorrupt = errors.New("store: corrupt value")

// Value encodings. Each value starts with a version byte; decoders refuse
// versions they do not know. Integers are varints, strings and lists carry
// a uvarint length, floats are 4-byte little-endian IEEE 754.
//
// User states: version 1 ends after Sessions; version 2 adds ClosedIDs;
// version 3 (written now) adds Exposures. All decode.
const (
	userStateV1  = 1
	userStateV2  = 2
	userStateV3  = 3
	checkpointV1 = 1
)

// Limits that keep a corrupt length from allocating without bound.
const (
	maxString = 1 << 20
	maxList   = 1 << 20
)

// AppendUserState appends the encoding of s to dst and returns it. It is
// also the format of the changelog's values.
func AppendUserState(dst []byte, s *UserState) []byte {
	dst = append(dst, userStateV3)
	dst = appendString(dst, s.SessionID)
	dst = binary.AppendVarint(dst, s.LastEventMs)
	dst = binary.AppendUvarint(dst, uint64(len(s.Events)))
	for _, e := range s.Events {
		dst = appendString(dst, e.ItemID)
		dst = binary.AppendVarint(dst, e.TimeMs)
		dst = append(dst, byte(e.Kind))
		dst = appendString(dst, e.EventID)
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Past)))
	for _, p := range s.Past {
		dst = appendString(dst, p.ID)
		dst = binary.AppendUvarint(dst, uint64(len(p.Items)))
		for _, it := range p.Items {
			dst = appendString(dst, it)
		}
		dst = binary.AppendUvarint(dst, uint64(len(p.Centroid)))
		for _, x := range p.Centroid {
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
		}
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(p.Coherence))
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(p.Weight))
		dst = binary.AppendVarint(dst, p.LastSeenMs)
	}
	dst = binary.LittleEndian.AppendUint64(dst, s.PublishedSig)
	dst = binary.AppendUvarint(dst, s.Applied)
	dst = binary.AppendUvarint(dst, s.Sessions)
	dst = binary.AppendUvarint(dst, uint64(len(s.ClosedIDs)))
	for _, c := range s.ClosedIDs {
		dst = appendString(dst, c.ID)
		dst = binary.AppendVarint(dst, c.TimeMs)
	}
	dst = binary.AppendUvarint(dst, uint64(len(s.Exposures)))
	for _, x := range s.Exposures {
		dst = binary.AppendVarint(dst, x.AtMs)
		dst = appendString(dst, x.Version)
		dst = appendString(dst, x.Arm)
		dst = binary.AppendUvarint(dst, uint64(len(x.Items)))
		for _, it := range x.Items {
			dst = appendString(dst, it)
		}
	}
	return dst
}

// DecodeUserState decodes a value written by AppendUserState. The result
// does not alias b.
func DecodeUserState(b []byte) (*UserState, error) {
	d := decoder{b: b}
	version := d.byte()
	if d.err == nil && (version < userStateV1 || version > userStateV3) {
		return nil, fmt.Errorf("%w: user state version %d, want %d to %d", ErrCorrupt, version, userStateV1, userStateV3)
	}
	s := &UserState{}
	s.SessionID = d.string()
	s.LastEventMs = d.varint()
	if n := d.count(); n > 0 {
		s.Events = make([]Event, n)
		for i := range s.Events {
			e := &s.Events[i]
			e.ItemID = d.string()
			e.TimeMs = d.varint()
			e.Kind = Kind(d.byte())
			e.EventID = d.string()
			if d.err == nil && e.Kind > Purchase {
				d.err = fmt.Errorf("%w: event kind %d", ErrCorrupt, e.Kind)
			}
		}
	}
	if n := d.count(); n > 0 {
		s.Past = make([]PastIntent, n)
		for i := range s.Past {
			p := &s.Past[i]
			p.ID = d.string()
			if m := d.count(); m > 0 {
				p.Items = make([]string, m)
				for j := range p.Items {
					p.Items[j] = d.string()
				}
			}
			if m := d.count(); m > 0 {
				p.Centroid = make([]float32, m)
				for j := range p.Centroid {
					p.Centroid[j] = d.float32()
				}
			}
			p.Coherence = d.float32()
			p.Weight = d.float32()
			p.LastSeenMs = d.varint()
		}
	}
	s.PublishedSig = d.uint64()
	s.Applied = d.uvarint()
	s.Sessions = d.uvarint()
	if version >= userStateV2 {
		if n := d.count(); n > 0 {
			s.ClosedIDs = make([]ClosedID, n)
			for i := range s.ClosedIDs {
				s.ClosedIDs[i] = ClosedID{ID: d.string(), TimeMs: d.varint()}
			}
		}
	}
	if version >= userStateV3 {
		if n := d.count(); n > 0 {
			s.Exposures = make([]Exposure, n)
			for i := range s.Exposures {
				x := &s.Exposures[i]
				x.AtMs = d.varint()
				x.Version = d.string()
				x.Arm = d.string()
				if m := d.count(); m > 0 {
					x.Items = make([]string, m)
					for j := range x.Items {
						x.Items[j] = d.string()
					}
				}
			}
		}
	}
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("store: decode user state: %w", err)
	}
	return s, nil
}

// AppendCheckpoint appends the encoding of c to dst, topics in sorted order
// so that equal checkpoints encode equally.
func AppendCheckpoint(dst []byte, c Checkpoint) []byte {
	dst = append(dst, checkpointV1)
	topics := make([]string, 0, len(c.Offsets))
	for t := range c.Offsets {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	dst = binary.AppendUvarint(dst, uint64(len(topics)))
	for _, t := range topics {
		dst = appendString(dst, t)
		dst = binary.AppendVarint(dst, c.Offsets[t])
	}
	dst = binary.AppendVarint(dst, c.WatermarkMs)
	dst = binary.AppendVarint(dst, c.Changelog)
	return dst
}

// DecodeCheckpoint decodes a value written by AppendCheckpoint.
func DecodeCheckpoint(b []byte) (Checkpoint, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != checkpointV1 {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint version %d, want %d", ErrCorrupt, v, checkpointV1)
	}
	c := Checkpoint{Offsets: map[string]int64{}}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		t := d.string()
		c.Offsets[t] = d.varint()
	}
	c.WatermarkMs = d.varint()
	c.Changelog = d.varint()
	if err := d.done(); err != nil {
		return Checkpoint{}, fmt.Errorf("store: decode checkpoint: %w", err)
	}
	return c, nil
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decoder reads a value, remembering the first error; after an error every
// read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: truncated or malformed %s", ErrCorrupt, what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) count() int {
	n := d.uvarint()
	if n > maxList || n > uint64(len(d.b)) {
		// Every element takes at least one byte.
		d.fail("length")
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > maxString || n > uint64(len(d.b)) {
		d.fail("string")
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) float32() float32 {
	if d.err != nil || len(d.b) < 4 {
		d.fail("float")
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(d.b))
	d.b = d.b[4:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail("uint64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return d.err
}
