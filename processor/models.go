package processor

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/topics"
)

// maxPendingVersions bounds the model versions whose chunks are held while
// their manifests have not arrived: a publisher that died mid-model leaves
// chunks that never complete.
const maxPendingVersions = 4

// Why a model from the topic was refused, for the metric's reason label.
const (
	rejectKey          = "bad_key"
	rejectManifest     = "bad_manifest"
	rejectChunks       = "corrupt_chunks"
	rejectIncompatible = "incompatible"
	rejectArtefact     = "corrupt_artefact"
	rejectBuild        = "build_failed"
)

// modelFollower assembles models from the models topic's chunks and
// manifests.
type modelFollower struct {
	p *Processor
	// chunks holds the chunks of versions whose manifest has not come
	// yet, in arrival order of versions.
	chunks   map[string]map[int][]byte
	versions []string
	// caughtUp is set once the topic is read to its end offset at start;
	// before that, the newest manifests (maxPendingVersions) are kept in
	// candidates, and once caught up the newest that verifies is served:
	// a corrupt newest version does not leave an instance without a model.
	caughtUp   bool
	candidates []pendingModel
	// loaded is closed once caught up and the newest model, if any, is
	// served or refused.
	loaded     chan struct{}
	loadedOnce sync.Once
}

type pendingModel struct {
	manifest topics.ModelManifest
	chunks   map[int][]byte
}

// followModels reads the models topic whole, outside the group, and
// serves each new model whose manifest arrives, once verified: chunk count,
// size and SHA-256 against the manifest, then the artefact's own checksum
// and format version. A model that fails any of these is refused with a
// log line and a metric, and the model serving keeps serving.
func (p *Processor) followModels(ctx context.Context, f *modelFollower) error {
	return p.follow(ctx, p.cfg.Names.Models, nil, f.apply, func() {
		f.caughtUp = true
		for i := len(f.candidates) - 1; i >= 0; i-- {
			if f.serve(f.candidates[i]) {
				break
			}
		}
		f.candidates = nil
		f.loadedOnce.Do(func() { close(f.loaded) })
	})
}

func newModelFollower(p *Processor) *modelFollower {
	return &modelFollower{p: p, chunks: map[string]map[int][]byte{}, loaded: make(chan struct{})}
}

func (f *modelFollower) apply(m kafka.Message) error {
	version, chunk, err := topics.ParseModelKey(string(m.Key))
	if err != nil {
		f.refuse(string(m.Key), rejectKey, err)
		return nil
	}
	if m.Value == nil { // a tombstone withdraws a version's record
		delete(f.chunks, version)
		return nil
	}
	if chunk >= 0 {
		cs, ok := f.chunks[version]
		if !ok {
			cs = map[int][]byte{}
			f.chunks[version] = cs
			f.versions = append(f.versions, version)
			if len(f.versions) > maxPendingVersions {
				delete(f.chunks, f.versions[0])
				f.versions = f.versions[1:]
			}
		}
		cs[chunk] = slices.Clone(m.Value)
		return nil
	}
	manifest, err := topics.DecodeModelManifest(version, m.Value, topics.DefaultMaxModelBytes)
	if err != nil {
		f.refuse(version, rejectManifest, err)
		return nil
	}
	pm := pendingModel{manifest: manifest, chunks: f.chunks[version]}
	delete(f.chunks, version)
	f.versions = slices.DeleteFunc(f.versions, func(v string) bool { return v == version })
	if !f.caughtUp {
		f.candidates = append(f.candidates, pm)
		if len(f.candidates) > maxPendingVersions {
			f.candidates = f.candidates[1:]
		}
		return nil
	}
	f.serve(pm)
	return nil
}

// serve verifies a model and swaps it in; false when it is refused.
func (f *modelFollower) serve(pm pendingModel) bool {
	p := f.p
	v := pm.manifest.Version
	start := p.cfg.Now()
	defer p.cfg.Metrics.rolloutStarted()()
	b, err := pm.manifest.Assemble(pm.chunks)
	if err != nil {
		f.refuse(v, rejectChunks, err)
		return false
	}
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
	if err := p.SetModel(m); err != nil {
		f.refuse(v, rejectBuild, err)
		return false
	}
	p.cfg.Metrics.rollout(p.cfg.Now().Sub(start))
	p.cfg.Logger.Info("model rolled out from the models topic", "version", v, "bytes", len(b), "took", p.cfg.Now().Sub(start))
	return true
}

func (f *modelFollower) refuse(version, reason string, err error) {
	serving := ""
	if e := f.p.Engine(); e != nil {
		serving = e.Version()
	}
	f.p.cfg.Metrics.modelRejected(reason)
	f.p.cfg.Logger.Error("model refused; the serving model keeps serving", "version", version, "reason", reason, "err", err, "serving", serving)
}
