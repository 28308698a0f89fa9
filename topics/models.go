package topics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// A model artefact travels on the models topic (compacted, one partition)
// as chunks followed by a manifest, so that no record exceeds the broker's
// default maximum message size (1 MiB) whatever the model's size:
//
//	key "<version>/<i>"  value: bytes [i*ChunkSize, (i+1)*ChunkSize) of the artefact
//	key "<version>"      value: the ModelManifest, JSON
//
// Every key is distinct, so compaction keeps every version whole; a
// version is withdrawn with tombstones on its keys. The manifest comes
// last: a reader that has the manifest has seen every chunk before it (one
// partition, in order), and takes the newest manifest as the model to
// serve.

// ModelChunkSize is the largest chunk of an artefact on the models topic:
// well under the broker's default message.max.bytes (1,048,588) with room
// for the key, headers and batch overhead.
const ModelChunkSize = 900 << 10

// ModelManifest describes one model version on the models topic.
type ModelManifest struct {
	// Version is the model version, also the manifest's key.
	Version string `json:"version"`
	// Chunks is the number of chunk records, keys "<version>/0" to
	// "<version>/<Chunks-1>".
	Chunks int `json:"chunks"`
	// Size is the artefact's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the whole artefact.
	SHA256 string `json:"sha256"`
	// PublishedAt is when the manifest was written.
	PublishedAt time.Time `json:"published_at"`
}

// ChunkKey returns the key of chunk i of a version.
func ChunkKey(version string, i int) string { return version + "/" + strconv.Itoa(i) }

// ParseModelKey splits a models-topic key into the version and, for a
// chunk, its index; chunk is -1 for a manifest key.
func ParseModelKey(key string) (version string, chunk int, err error) {
	v, c, ok := strings.Cut(key, "/")
	if !ok {
		if key == "" {
			return "", 0, errors.New("topics: empty model key")
		}
		return key, -1, nil
	}
	i, err := strconv.Atoi(c)
	if err != nil || i < 0 || v == "" {
		return "", 0, fmt.Errorf("topics: model key %s: want <version> or <version>/<chunk>", brief(key))
	}
	return v, i, nil
}

// DecodeModelManifest decodes a manifest value strictly.
func DecodeModelManifest(key string, value []byte) (ModelManifest, error) {
	var m ModelManifest
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: %w", brief(key), err)
	}
	switch {
	case m.Version != key:
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s names version %s", brief(key), brief(m.Version))
	case m.Chunks < 1 || m.Size < 1 || int64(m.Chunks) != (m.Size+ModelChunkSize-1)/ModelChunkSize:
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: %d chunks for %d bytes", brief(key), m.Chunks, m.Size)
	case len(m.SHA256) != 64:
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: sha256 %s is not 64 hex digits", brief(key), brief(m.SHA256))
	}
	if _, err := hex.DecodeString(m.SHA256); err != nil {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: sha256: %w", brief(key), err)
	}
	return m, nil
}

// Assemble joins a version's chunks (indexed by chunk number) and checks
// them against the manifest: count, size and checksum.
func (m ModelManifest) Assemble(chunks map[int][]byte) ([]byte, error) {
	out := make([]byte, 0, m.Size)
	for i := range m.Chunks {
		c, ok := chunks[i]
		if !ok {
			return nil, fmt.Errorf("topics: model %s: chunk %d of %d missing", m.Version, i, m.Chunks)
		}
		out = append(out, c...)
	}
	if int64(len(out)) != m.Size {
		return nil, fmt.Errorf("topics: model %s: %d bytes, the manifest says %d", m.Version, len(out), m.Size)
	}
	sum := sha256.Sum256(out)
	if hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, fmt.Errorf("topics: model %s: checksum mismatch: the chunks are corrupt", m.Version)
	}
	return out, nil
}

// PublishModel writes an artefact to the models topic as chunks and then
// its manifest, each acknowledged by all in-sync replicas, and returns the
// manifest.
func PublishModel(ctx context.Context, brokers []string, topic Topic, version string, artefact []byte) (ModelManifest, error) {
	if version == "" || strings.Contains(version, "/") {
		return ModelManifest{}, fmt.Errorf("topics: model version %s: want a non-empty name without '/'", brief(version))
	}
	if len(artefact) == 0 {
		return ModelManifest{}, errors.New("topics: empty model artefact")
	}
	sum := sha256.Sum256(artefact)
	m := ModelManifest{Version: version, Size: int64(len(artefact)), SHA256: hex.EncodeToString(sum[:]),
		Chunks: (len(artefact) + ModelChunkSize - 1) / ModelChunkSize, PublishedAt: time.Now().UTC()}
	tr := &kafka.Transport{} // not the shared default's cached metadata
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Transport: tr, Addr: kafka.TCP(brokers...), Topic: string(topic), BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 * ModelChunkSize}
	for i := range m.Chunks {
		c := artefact[i*ModelChunkSize : min((i+1)*ModelChunkSize, len(artefact))]
		if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(ChunkKey(version, i)), Value: c}); err != nil {
			return ModelManifest{}, errors.Join(fmt.Errorf("topics: publish model %s chunk %d: %w", version, i, err), w.Close())
		}
	}
	v, err := json.Marshal(m)
	if err != nil {
		return ModelManifest{}, errors.Join(err, w.Close())
	}
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(version), Value: v}); err != nil {
		return ModelManifest{}, errors.Join(fmt.Errorf("topics: publish model %s manifest: %w", version, err), w.Close())
	}
	return m, w.Close()
}
