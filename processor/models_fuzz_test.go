package processor

import (
	"bytes"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

// fuzzMaxBytes is the fuzzed follower's bound: three full chunks and 500
// bytes of a fourth.
const fuzzMaxBytes = 3*topics.ModelChunkSize + 500

// fuzzInput reads a fuzz input a byte at a time; past its end, zeros.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) next() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) take(n int) []byte {
	n = min(n, len(in.b))
	out := in.b[:n:n]
	in.b = in.b[n:]
	return out
}

// Ops of a fuzzed models topic: each is an op byte, a version byte (v0
// to v3) and the op's own bytes.
const (
	opChunk       = iota // index, size mode (+ a byte), fill byte
	opManifest           // a manifest of the chunks written so far: how it lies
	opRawManifest        // length, bytes
	opRawRecord          // key length, key, value length, value, tombstone?
	opTombstone          // manifest or chunk, index
	opCaughtUp           // the catch-up ends here
	opPublish            // length, artefact: chunks and a true manifest
	numOps
)

// fuzzLogBytes bounds the values of a fuzzed topic, so that an input of a
// few hundred full chunks does not make an execution take seconds: past
// it, the rest of the input is not read.
const fuzzLogBytes = 16 * topics.ModelChunkSize

// fuzzModelLog builds a models topic from a fuzz input, and where the
// catch-up ends (the whole log when the input does not say).
func fuzzModelLog(data []byte) (modelLog, int) {
	in := &fuzzInput{b: data}
	var l modelLog
	end := -1
	written := map[string]map[int][]byte{} // the chunks written of each version
	size, counted := 0, 0
	for len(in.b) > 0 && size <= fuzzLogBytes {
		for _, m := range l[counted:] {
			size += len(m.Value)
		}
		counted = len(l)
		op := in.next() % numOps
		version := "v" + strconv.Itoa(int(in.next()%4))
		switch op {
		case opChunk:
			i := int(in.next() % 8)
			var size int
			switch mode := in.next() % 4; mode {
			case 0:
				size = topics.ModelChunkSize
			case 1:
				size = int(in.next()) + 1
			case 2:
				size = topics.ModelChunkSize - int(in.next())
			default:
				size = topics.ModelChunkSize + int(in.next()%4) // over a chunk
			}
			value := bytes.Repeat([]byte{in.next()}, size)
			if written[version] == nil {
				written[version] = map[int][]byte{}
			}
			written[version][i] = value
			l.add(topics.ChunkKey(version, i), value)
		case opManifest:
			var artefact []byte
			for i := 0; written[version][i] != nil; i++ {
				artefact = append(artefact, written[version][i]...)
			}
			if len(artefact) == 0 {
				artefact = []byte{in.next()}
			}
			value := manifestOf(version, artefact)
			switch lie := in.next() % 4; lie {
			case 1: // the size of the crash once found
				value = []byte(fmt.Sprintf(`{"version":%q,"chunks":1221679587,"size":1125899906842624,"sha256":"%064x"}`, version, 0))
			case 2: // one byte more than the chunks hold
				value = bytes.Replace(value, []byte(fmt.Sprintf(`"size":%d`, len(artefact))), []byte(fmt.Sprintf(`"size":%d`, len(artefact)+1)), 1)
			case 3: // the last chunk is missing
				value = manifestOf(version, append(artefact, make([]byte, topics.ModelChunkSize)...))
			}
			l.add(version, value)
		case opRawManifest:
			l.add(version, bytes.Clone(in.take(int(in.next()))))
		case opRawRecord:
			key := string(in.take(int(in.next() % 16)))
			value := bytes.Clone(in.take(int(in.next())))
			if in.next()%4 == 0 {
				value = nil
			}
			l.add(key, value)
		case opTombstone:
			if in.next()%2 == 0 {
				l.add(version, nil)
			} else {
				l.add(topics.ChunkKey(version, int(in.next()%8)), nil)
			}
		case opCaughtUp:
			if end < 0 {
				end = len(l)
			}
		case opPublish:
			if artefact := in.take(int(in.next())); len(artefact) > 0 {
				l.publish(version, bytes.Clone(artefact))
			}
		}
	}
	if end < 0 {
		end = len(l)
	}
	return l, end
}

// FuzzModelFollower feeds the model follower arbitrary models topics,
// part read as a starting instance catches up and the rest live: it must
// never panic, never hold more than its bound of chunk bytes, never hold
// the chunks of more than maxPendingVersions versions, and keep its count
// of the bytes held true.
func FuzzModelFollower(f *testing.F) {
	m, err := testModel()
	require.NoError(f, err)
	var buf bytes.Buffer
	_, err = m.WriteTo(&buf)
	require.NoError(f, err)
	header := buf.Bytes()[:64] // the start of a true artefact, for model.Read to read further
	follower, _ := newTestFollower(f, fuzzMaxBytes)
	views := follower.v

	// A model of two chunks, published and then lied about.
	f.Add([]byte{opChunk, 0, 0, 0, 7, opChunk, 0, 1, 1, 99, 7, opManifest, 0, 0, opManifest, 0, 2, opManifest, 0, 3})
	// The 2^50-byte manifest, at start and live.
	f.Add([]byte{opChunk, 1, 0, 0, 1, opManifest, 1, 1, opCaughtUp, 0, opChunk, 1, 0, 0, 1, opManifest, 1, 1})
	// Four full chunks of one version: the fourth is past the bound.
	f.Add([]byte{opChunk, 2, 0, 0, 1, opChunk, 2, 1, 0, 1, opChunk, 2, 2, 0, 1, opChunk, 2, 3, 0, 1, opManifest, 2, 0})
	// Versions interleaved past the bound, a tombstone, an oversized chunk.
	f.Add([]byte{opCaughtUp, 0, opChunk, 0, 0, 0, 1, opChunk, 1, 0, 0, 2, opChunk, 2, 0, 0, 3, opChunk, 3, 0, 0, 4,
		opChunk, 0, 1, 0, 1, opTombstone, 1, 1, 0, opChunk, 3, 1, 3, 3, 5, opManifest, 0, 0, opManifest, 2, 0})
	// Raw records: bad keys, a manifest that is no JSON, a chunk key with
	// a leading zero.
	f.Add([]byte{opRawRecord, 0, 4, 'v', '/', '0', '1', 1, 'x', 1, opRawManifest, 3, 5, '{', '"', 'x', '"', '}',
		opRawRecord, 0, 0, 0, 0})
	// True artefact headers published: model.Read reads past the magic.
	for _, n := range []int{10, 64} {
		f.Add(append([]byte{opPublish, 0, byte(n)}, header[:n]...))
		f.Add(append(append([]byte{opPublish, 1, byte(n)}, header[:n]...), opCaughtUp, 0, opPublish, 2, 3, 1, 2, 3))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		log, end := fuzzModelLog(data)
		fl := newModelFollower(views) // bound by the Config.MaxModelBytes, fuzzMaxBytes
		check := func() {
			var pending int64
			for _, vc := range fl.pending {
				for _, c := range vc.chunks {
					pending += int64(len(c))
				}
			}
			if held := heldBytes(fl); held > fuzzMaxBytes {
				t.Fatalf("got %d bytes of chunks held, want at most %d", held, fuzzMaxBytes)
			}
			if len(fl.pending) > maxPendingVersions {
				t.Fatalf("got the chunks of %d versions held, want at most %d", len(fl.pending), maxPendingVersions)
			}
			if pending != fl.pendingBytes {
				t.Fatalf("got a count of %d bytes pending, want the %d held", fl.pendingBytes, pending)
			}
		}
		if err := feed(fl, log, end, check); err != nil {
			t.Fatalf("got %v, want no error: a record never stops the follower", err)
		}
	})
}
