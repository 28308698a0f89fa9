package model

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// SessionLog is what the neighbourhood term of the ranking votes from
// (Neighbours): training sessions as sequences of item IDs, oldest first.
// A model carries it in its artefact (section SESS).
type SessionLog struct {
	// Items are the distinct item IDs the sessions index.
	Items []string
	// Sessions are the sessions, oldest first, each a non-empty sequence
	// of indices into Items in event order.
	Sessions [][]int32
}

// NewSessionLog keeps the last (most recent) max non-empty sessions of c,
// as item IDs; max <= 0 keeps them all. c's sessions must be in time
// order. It returns nil when no session is kept.
func NewSessionLog(c Corpus, max int) *SessionLog {
	start := 0
	if max > 0 {
		kept := 0
		for start = len(c.Sessions); start > 0 && kept < max; start-- {
			if len(c.Sessions[start-1]) > 0 {
				kept++
			}
		}
	}
	l := &SessionLog{}
	index := map[int32]int32{}
	for _, s := range c.Sessions[start:] {
		if len(s) == 0 {
			continue
		}
		seq := make([]int32, len(s))
		for i, e := range s {
			x, ok := index[e.Item]
			if !ok {
				x = int32(len(l.Items))
				index[e.Item] = x
				l.Items = append(l.Items, c.Items[e.Item].ID)
			}
			seq[i] = x
		}
		l.Sessions = append(l.Sessions, seq)
	}
	if len(l.Sessions) == 0 {
		return nil
	}
	return l
}

// check returns why the artefact reader would refuse l, or nil.
func (l *SessionLog) check() error {
	if len(l.Items) > maxVocabRows {
		return fmt.Errorf("%d items, limit %d", len(l.Items), maxVocabRows)
	}
	seen := make(map[string]bool, len(l.Items))
	for i, id := range l.Items {
		switch {
		case id == "":
			return fmt.Errorf("item %d: empty ID", i)
		case len(id) > maxWordBytes:
			return fmt.Errorf("item %d: ID of %d bytes, limit %d", i, len(id), maxWordBytes)
		case seen[id]:
			return fmt.Errorf("item %d: ID %q twice", i, id)
		}
		seen[id] = true
	}
	total := 0
	for si, s := range l.Sessions {
		if len(s) == 0 {
			return fmt.Errorf("session %d is empty", si)
		}
		total += len(s)
		for _, x := range s {
			if x < 0 || int(x) >= len(l.Items) {
				return fmt.Errorf("session %d: item index %d outside [0, %d)", si, x, len(l.Items))
			}
		}
	}
	if total > maxSessionItems {
		return fmt.Errorf("%d entries, limit %d", total, maxSessionItems)
	}
	return nil
}

// write writes the SESS section (see the artefact layout).
func (l *SessionLog) write(aw *artefactWriter) {
	size, entries := 16, 0
	for _, id := range l.Items {
		size += 4 + len(id)
	}
	for _, s := range l.Sessions {
		size += 4 + 4*len(s)
		entries += len(s)
	}
	aw.section(tagSess, size)
	le := binary.LittleEndian
	var b [16]byte
	le.PutUint32(b[:], uint32(len(l.Items)))
	le.PutUint32(b[4:], uint32(len(l.Sessions)))
	le.PutUint64(b[8:], uint64(entries))
	writeBytes(aw, b[:])
	for _, id := range l.Items {
		writeBytes(aw, le.AppendUint32(b[:0], uint32(len(id))))
		writeBytes(aw, id)
	}
	for _, s := range l.Sessions {
		writeBytes(aw, le.AppendUint32(b[:0], uint32(len(s))))
	}
	for _, s := range l.Sessions {
		for _, x := range s {
			writeBytes(aw, le.AppendUint32(b[:0], uint32(x)))
		}
	}
}

var errSessions = errors.New("session log")

// sessions reads the SESS section. Every count is checked against the
// section's size before anything is allocated for it.
func (ar *artefactReader) sessions() (*SessionLog, error) {
	const maxSize = 16 + maxVocabRows*(4+maxWordBytes) + 8*maxSessionItems
	if err := ar.begin(tagSess, 16, maxSize); err != nil {
		return nil, err
	}
	b, err := ar.take(16)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	n, s, e := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), le.Uint64(b[8:])
	switch {
	case n > maxVocabRows:
		return nil, ar.corrupt("%v: %d items, limit %d", errSessions, n, maxVocabRows)
	case e > maxSessionItems:
		return nil, ar.corrupt("%v: %d entries, limit %d", errSessions, e, maxSessionItems)
	case s > e:
		return nil, ar.corrupt("%v: %d sessions of %d entries", errSessions, s, e)
	case 4*n+4*s+4*e > ar.left:
		return nil, ar.corrupt("%v: %d items, %d sessions and %d entries in %d bytes", errSessions, n, s, e, ar.left)
	}
	l := &SessionLog{Items: make([]string, 0, n), Sessions: make([][]int32, 0, s)}
	seen := make(map[string]bool, n)
	for i := range n {
		if b, err = ar.take(4); err != nil {
			return nil, err
		}
		k := le.Uint32(b)
		if k == 0 || k > maxWordBytes {
			return nil, ar.corrupt("%v: item %d: ID of %d bytes, want 1 to %d", errSessions, i, k, maxWordBytes)
		}
		if b, err = ar.take(int(k)); err != nil {
			return nil, err
		}
		id := string(b)
		if seen[id] {
			return nil, ar.corrupt("%v: item %d: ID %q twice", errSessions, i, id)
		}
		seen[id] = true
		l.Items = append(l.Items, id)
	}
	lens := make([]uint32, s)
	var total uint64
	for i := range lens {
		if b, err = ar.take(4); err != nil {
			return nil, err
		}
		lens[i] = le.Uint32(b)
		if lens[i] == 0 {
			return nil, ar.corrupt("%v: session %d is empty", errSessions, i)
		}
		total += uint64(lens[i])
	}
	if total != e {
		return nil, ar.corrupt("%v: sessions of %d entries, header says %d", errSessions, total, e)
	}
	if 4*e != ar.left {
		return nil, ar.corrupt("%v: %d entries in %d bytes", errSessions, e, ar.left)
	}
	flat := make([]int32, e)
	for i := range flat {
		if b, err = ar.take(4); err != nil {
			return nil, err
		}
		x := le.Uint32(b)
		if uint64(x) >= n {
			return nil, ar.corrupt("%v: entry %d: item index %d outside [0, %d)", errSessions, i, x, n)
		}
		flat[i] = int32(x)
	}
	for _, k := range lens {
		l.Sessions = append(l.Sessions, flat[:k:k])
		flat = flat[k:]
	}
	return l, ar.end()
}
