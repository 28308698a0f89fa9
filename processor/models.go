package processor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/topics"
)

// maxPendingVersions bounds the model versions whose chunks are held while
// their manifests have not arrived (a publisher that died mid-model leaves
// chunks that never complete), and the manifests a starting instance
// considers: the newest that verifies serves.
const maxPendingVersions = 4

// Why a model from the topic was refused, for the metric's reason label.
const (
	rejectKey          = "bad_key"
	rejectManifest     = "bad_manifest"
	rejectTooLarge     = "too_large"
	rejectChunks       = "corrupt_chunks"
	rejectIncompatible = "incompatible"
	rejectArtefact     = "corrupt_artefact"
	rejectBuild        = "build_failed"
	// rejectSignature: Config.ModelVerifyKey is set and the manifest is
	// unsigned or its signature does not verify with it.
	rejectSignature = "bad_signature"
)

// modelFollower assembles models from the models topic's chunks and
// manifests, holding about one model's chunks at a time, never more than
// Config.MaxModelBytes of them.
//
// A starting instance reads the records the topic held at start (catchUp):
// a first pass keeps only the manifests, the newest maxPendingVersions
// that decode (and verify, with Config.ModelVerifyKey); then it reads the
// chunks of the newest again, from its first chunk to its manifest, and
// serves it, or, refused, those of the next newest, and so on. Then it
// follows the topic live (apply), from the first chunk of a version whose
// manifest had not come (a model being published), else from the end: it
// holds the chunks of versions without a manifest until the manifest
// comes. A manifest read again that way was decided by the catch-up, and
// is not served again.
//
// With an A/B split it considers only the two versions of the split: the
// catch-up reads and serves the chunks of each in turn (still one model's
// chunks at a time), and the records of other versions are passed over.
type modelFollower struct {
	v        *views
	maxBytes int64
	// verifyKey, when set, must have signed every manifest served
	// (Config.ModelVerifyKey).
	verifyKey ed25519.PublicKey
	// split are the versions of an A/B split (Config.Split), by arm; nil
	// without one. With one, only they are served, and the records of
	// other versions are passed over: no chunk of theirs is held.
	split []string
	// pending holds the chunks of versions whose manifest has not come
	// yet, in arrival order of versions: at most maxPendingVersions
	// versions and maxBytes bytes in all, the oldest version dropped
	// first; pendingBytes is their size.
	pending      []*versionChunks
	pendingBytes int64
	// reading holds the chunks of the version a starting instance reads
	// (catchUp), at most its manifest's size.
	reading *versionChunks
	// read is, by partition, one past the last offset the catch-up read:
	// a record before it that the live follow reads again was read then.
	read map[int32]int64
	// refused is the last version refused for one of its chunks: its
	// further records are dropped without a log line each, until its
	// manifest ends it.
	refused string
	// loaded is closed once caught up and the newest model, if any, is
	// served or refused.
	loaded     chan struct{}
	loadedOnce sync.Once
}

// versionChunks are chunks of one version, by index, and their size.
type versionChunks struct {
	version string
	chunks  map[int][]byte
	bytes   int64
}

// put stores chunk i, a copy of value, in place of any before it.
func (vc *versionChunks) put(i int, value []byte) (grown int64) {
	grown = int64(len(value)) - int64(len(vc.chunks[i]))
	vc.chunks[i] = slices.Clone(value)
	vc.bytes += grown
	return grown
}

// drop removes chunk i.
func (vc *versionChunks) drop(i int) {
	vc.bytes -= int64(len(vc.chunks[i]))
	delete(vc.chunks, i)
}

func newModelFollower(v *views) *modelFollower {
	return &modelFollower{v: v, maxBytes: v.cfg.MaxModelBytes, verifyKey: v.cfg.ModelVerifyKey, split: armVersions(v.cfg.Split),
		read: map[int32]int64{}, loaded: make(chan struct{})}
}

// ignores reports whether version is passed over: an A/B split is served
// and version is in neither arm.
func (f *modelFollower) ignores(version string) bool {
	return f.split != nil && !slices.Contains(f.split, version)
}

// markLoaded closes loaded, once: the models topic was read up to its end
// at start, and its model (its arms' models with an A/B split) served or
// refused.
func (f *modelFollower) markLoaded() {
	f.loadedOnce.Do(func() {
		f.v.armsCaughtUp()
		close(f.loaded)
	})
}

// followModels reads the models topic whole, outside the group, and
// serves each new model whose manifest arrives, once verified: the
// manifest's signature (with Config.ModelVerifyKey), chunk count, size and
// SHA-256 against the manifest, then the artefact's own checksum and
// format version. A model that fails any of these is refused with a
// log line and a metric, and the model serving keeps serving. With an
// A/B split, a model of either arm's version serves that arm, and other
// versions are not served (an Info line each).
func (v *views) followModels(ctx context.Context, f *modelFollower) error {
	topic := v.cfg.Names.Models
	firsts, ends, err := v.offsetRange(ctx, topic)
	if err != nil {
		return nil // ctx ended
	}
	read := func(part int32, from, to int64, fn func(kafka.Message) error) error {
		if to < 0 {
			to = ends[part]
		}
		r := topics.ReplayRange{Topic: topic, Partition: part, From: max(from, firsts[part]), To: to}
		if err := v.readRange(ctx, r, fn); err != nil {
			return fmt.Errorf("follow %s/%d: catch up: %w", topic, part, err)
		}
		return nil
	}
	resume, err := f.catchUp(slices.Sorted(maps.Keys(ends)), read)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	from := func(part int32) (int64, bool, error) {
		if o, ok := resume[part]; ok {
			return o, true, nil
		}
		o, ok := ends[part] // nothing pending there: from where the catch-up ended
		return o, ok, nil
	}
	return v.follow(ctx, topic, from, f.apply, f.markLoaded)
}

// candidate is a manifest a starting instance found, and where.
type candidate struct {
	manifest  topics.ModelManifest
	partition int32
	offset    int64
	// from is the offset of the version's first chunk in partition, -1
	// when not known (its start was dropped among too many versions).
	from int64
}

// rangeReader reads the records of a partition of the topic from offset
// from (-1: its start) up to to (-1: its end at start), calling fn for
// each in offset order.
type rangeReader func(part int32, from, to int64, fn func(kafka.Message) error) error

// chunkStart is where the first chunk of a version without a manifest
// was found.
type chunkStart struct {
	version   string
	partition int32
	offset    int64
}

// catchUp serves the newest model of the records the topic held at start
// in parts, which read passes to fn; with an A/B split, the newest
// manifest of each arm's version, and no other. It returns, for the
// partitions that hold the first chunk
// of a version whose manifest did not come (at most maxPendingVersions of
// them, as apply holds), the offset from which to follow the topic live,
// so that those chunks are read again and held until their manifest
// comes; the other partitions are followed from where the catch-up
// ended.
func (f *modelFollower) catchUp(parts []int32, read rangeReader) (map[int32]int64, error) {
	var cands []candidate
	var starts []chunkStart
	// Manifests of versions not in the A/B split, for one log line: how
	// many, and the first few versions.
	var ignored int
	var ignoredVersions []string
	forget := func(version string) {
		starts = slices.DeleteFunc(starts, func(s chunkStart) bool { return s.version == version })
	}
	first := func(m kafka.Message) error {
		f.read[int32(m.Partition)] = m.Offset + 1
		version, chunk, err := topics.ParseModelKey(string(m.Key))
		switch {
		case err != nil:
			f.refuse(string(m.Key), rejectKey, err)
		case m.Value == nil: // a tombstone withdraws a version's record
			forget(version)
			if chunk < 0 {
				cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.manifest.Version == version })
			}
		case f.ignores(version):
			if chunk < 0 {
				ignored++
				if len(ignoredVersions) < maxPendingVersions {
					ignoredVersions = append(ignoredVersions, clip(version))
				}
			}
		case chunk >= 0:
			if !slices.ContainsFunc(starts, func(s chunkStart) bool { return s.version == version }) {
				starts = append(starts, chunkStart{version: version, partition: int32(m.Partition), offset: m.Offset})
				if len(starts) > maxPendingVersions {
					starts = starts[1:]
				}
			}
		default:
			from := int64(-1)
			if i := slices.IndexFunc(starts, func(s chunkStart) bool { return s.version == version }); i >= 0 && starts[i].partition == int32(m.Partition) {
				from = starts[i].offset
			}
			forget(version)
			manifest, ok := f.decodeManifest(version, m.Value)
			if !ok {
				return nil
			}
			cands = slices.DeleteFunc(cands, func(c candidate) bool { return c.manifest.Version == version })
			cands = append(cands, candidate{manifest: manifest, partition: int32(m.Partition), offset: m.Offset, from: from})
			if len(cands) > maxPendingVersions {
				cands = cands[1:]
			}
		}
		return nil
	}
	for _, part := range parts {
		if err := read(part, -1, -1, first); err != nil {
			return nil, err
		}
	}
	if ignored > 0 {
		f.v.cfg.Logger.Info("models on the topic not served: not in the A/B split", "manifests", ignored, "first_versions", ignoredVersions, "split", f.split)
	}
	if f.split != nil {
		// Each arm's version, A first: one model's chunks held at a time.
		for _, version := range f.split {
			i := slices.IndexFunc(cands, func(c candidate) bool { return c.manifest.Version == version })
			if i < 0 {
				continue // missing: its arm falls back (reportArmsLocked)
			}
			if _, err := f.readAndServe(cands[i], read); err != nil {
				return nil, err
			}
		}
	} else {
		for i := len(cands) - 1; i >= 0; i-- {
			ok, err := f.readAndServe(cands[i], read)
			if err != nil {
				return nil, err
			}
			if ok {
				break
			}
		}
	}
	resume := map[int32]int64{}
	for _, s := range starts {
		if o, ok := resume[s.partition]; !ok || s.offset < o {
			resume[s.partition] = s.offset
		}
	}
	return resume, nil
}

// readAndServe reads the chunks of c's version that come before its
// manifest (from its first chunk on, in the manifest's partition: a
// publisher writes them there, before it), keeping only those that fit
// the manifest, and serves the model; false when it is refused.
func (f *modelFollower) readAndServe(c candidate, read rangeReader) (bool, error) {
	vc := &versionChunks{version: c.manifest.Version, chunks: map[int][]byte{}}
	f.reading = vc
	defer func() { f.reading = nil }()
	misfits := map[int]error{} // chunks that did not fit, by index: at most the manifest's count
	err := read(c.partition, c.from, c.offset, func(m kafka.Message) error {
		version, i, err := topics.ParseModelKey(string(m.Key))
		if err != nil || version != vc.version || i < 0 || i >= c.manifest.Chunks {
			return nil
		}
		if m.Value == nil {
			vc.drop(i)
			delete(misfits, i)
			return nil
		}
		if err := c.manifest.CheckChunk(i, len(m.Value)); err != nil {
			vc.drop(i)
			misfits[i] = err
			return nil
		}
		delete(misfits, i)
		vc.put(i, m.Value)
		return nil
	})
	if err != nil {
		return false, err
	}
	if len(misfits) > 0 {
		f.refuse(vc.version, rejectChunks, misfits[slices.Min(slices.Collect(maps.Keys(misfits)))])
		return false, nil
	}
	return f.serve(c.manifest, vc.chunks), nil
}

// apply takes a record of the live topic: a chunk is held until its
// version's manifest comes, a manifest serves its model, a tombstone drops
// the chunks held of its version.
func (f *modelFollower) apply(m kafka.Message) error {
	version, chunk, err := topics.ParseModelKey(string(m.Key))
	caughtUp := m.Offset < f.read[int32(m.Partition)] // read by the catch-up already
	switch {
	case err != nil:
		if !caughtUp {
			f.refuse(string(m.Key), rejectKey, err)
		}
	case m.Value == nil: // a tombstone withdraws a version's record
		f.dropPending(version)
	case f.ignores(version):
		if chunk < 0 && !caughtUp {
			f.v.cfg.Logger.Info("model not served: not in the A/B split", "version", clip(version), "split", f.split)
		}
	case chunk >= 0:
		f.addChunk(version, chunk, m.Value)
	default:
		vc := f.dropPending(version)
		if caughtUp { // decided by the catch-up
			return nil
		}
		if version == f.refused { // refused already for one of its chunks
			f.refused = ""
			return nil
		}
		manifest, ok := f.decodeManifest(version, m.Value)
		if !ok {
			return nil
		}
		var chunks map[int][]byte
		if vc != nil {
			chunks = vc.chunks
		}
		f.serve(manifest, chunks)
	}
	return nil
}

// addChunk holds chunk i of a version whose manifest has not come. A
// chunk that no model within maxBytes has (CheckModelChunk) refuses its
// version, whose chunks are dropped. Past maxPendingVersions versions or
// maxBytes bytes, the oldest versions' chunks are dropped: the version's
// own chunks are at most maxBytes (CheckModelChunk), so it stays.
func (f *modelFollower) addChunk(version string, i int, value []byte) {
	if version == f.refused {
		return
	}
	if err := topics.CheckModelChunk(version, i, len(value), f.maxBytes); err != nil {
		f.dropPending(version)
		f.refused = version
		reason := rejectChunks
		if errors.Is(err, topics.ErrModelTooLarge) {
			reason = rejectTooLarge
		}
		f.refuse(version, reason, err)
		return
	}
	k := slices.IndexFunc(f.pending, func(vc *versionChunks) bool { return vc.version == version })
	if k < 0 {
		f.pending = append(f.pending, &versionChunks{version: version, chunks: map[int][]byte{}})
		k = len(f.pending) - 1
	}
	vc := f.pending[k]
	f.pendingBytes += vc.put(i, value)
	for len(f.pending) > 1 && (len(f.pending) > maxPendingVersions || f.pendingBytes > f.maxBytes) {
		oldest := f.pending[0]
		if oldest == vc {
			oldest = f.pending[1]
		}
		f.dropPending(oldest.version)
	}
}

// dropPending removes the chunks held of a version and returns them, nil
// when none are.
func (f *modelFollower) dropPending(version string) *versionChunks {
	k := slices.IndexFunc(f.pending, func(vc *versionChunks) bool { return vc.version == version })
	if k < 0 {
		return nil
	}
	vc := f.pending[k]
	f.pending = slices.Delete(f.pending, k, k+1)
	f.pendingBytes -= vc.bytes
	return vc
}

// serve verifies a model and swaps it in; false when it is refused.
func (f *modelFollower) serve(manifest topics.ModelManifest, chunks map[int][]byte) bool {
	vw := f.v
	v := manifest.Version
	start := vw.cfg.Now()
	defer vw.cfg.Metrics.rolloutStarted()()
	b, err := manifest.Assemble(chunks)
	if err != nil {
		f.refuse(v, rejectChunks, err)
		return false
	}
	clear(chunks) // assembled: the GC may have them before the artefact is read
	m, err := model.Read(bytes.NewReader(b))
	switch {
	case errors.Is(err, model.ErrFormatVersion) || errors.Is(err, model.ErrNotModel):
		f.refuse(v, rejectIncompatible, err)
		return false
	case err != nil:
		f.refuse(v, rejectArtefact, err)
		return false
	}
	m.Info.Version = v
	if err := vw.setModel(m); err != nil {
		f.refuse(v, rejectBuild, err)
		return false
	}
	vw.cfg.Metrics.rollout(vw.cfg.Now().Sub(start))
	if i := armOf(vw.cfg.Split, v); i >= 0 {
		vw.cfg.Logger.Info("model rolled out from the models topic", "version", v, "arm", armNames[i], "bytes", len(b), "took", vw.cfg.Now().Sub(start))
		return true
	}
	vw.cfg.Logger.Info("model rolled out from the models topic", "version", v, "bytes", len(b), "took", vw.cfg.Now().Sub(start))
	return true
}

// decodeManifest decodes a manifest record and, with a verify key, checks
// its signature; false when it is refused: too_large when its model is
// over maxBytes, bad_manifest when it does not decode, bad_signature when
// it is unsigned or its signature does not verify. A manifest refused is
// never a candidate of the catch-up nor served live, so that no chunk of a
// model its operator did not sign is assembled or read.
func (f *modelFollower) decodeManifest(version string, value []byte) (topics.ModelManifest, bool) {
	m, err := topics.DecodeModelManifest(version, value, f.maxBytes)
	if err != nil {
		reason := rejectManifest
		if errors.Is(err, topics.ErrModelTooLarge) {
			reason = rejectTooLarge
		}
		f.refuse(version, reason, err)
		return topics.ModelManifest{}, false
	}
	if f.verifyKey != nil {
		if err := m.Verify(f.verifyKey); err != nil {
			f.refuse(version, rejectSignature, err)
			return topics.ModelManifest{}, false
		}
	}
	return m, true
}

func (f *modelFollower) refuse(version, reason string, err error) {
	serving := ""
	if e := f.v.engine(); e != nil {
		serving = e.Version()
	}
	f.v.cfg.Metrics.modelRejected(reason)
	f.v.cfg.Logger.Error("model refused; the serving model keeps serving", "version", clip(version), "reason", reason, "err", err, "serving", serving)
}

// clip cuts a string from a record (a key: up to the broker's limit) to
// what a log line should hold: its first 64 bytes and its length.
func clip(s string) string {
	const keep = 64
	if len(s) <= keep {
		return s
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "... (" + strconv.Itoa(len(s)) + " bytes)"
}
