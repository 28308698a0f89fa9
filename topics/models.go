package topics

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
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
// version is withdrawn with tombstones on its keys (a nil value), which
// compaction then removes with the records they shadow: [PruneModels]
// withdraws all but the newest few, so that the topic holds a few models
// however many were ever published. The manifest comes last: a reader that
// has the manifest has seen every chunk before it (one partition, in
// order), and takes the newest manifest as the model to serve.
//
// A reader bounds what it believes: a manifest over its maximum model size
// is refused before any chunk is held ([DecodeModelManifest]), and so is a
// chunk whose index and length put its model over that size
// ([CheckModelChunk]); [ModelManifest.Assemble] allocates only for the
// bytes of the chunks it was given, each checked against the manifest.

// ModelChunkSize is the largest chunk of an artefact on the models topic:
// well under the broker's default message.max.bytes (1,048,588) with room
// for the key, headers and batch overhead.
const ModelChunkSize = 900 << 10

// DefaultMaxModelBytes is the default bound on the size of a model
// artefact a reader of the models topic accepts: 1 GiB, 1,166 chunks.
const DefaultMaxModelBytes int64 = 1 << 30

// ErrModelTooLarge is wrapped by the errors of a manifest, or a chunk,
// that puts a model over the reader's maximum size.
var ErrModelTooLarge = errors.New("topics: model over the size limit")

// MaxModelChunks returns the most chunks a model of at most maxBytes bytes
// has: maxBytes/ModelChunkSize rounded up; 0 for maxBytes < 1.
func MaxModelChunks(maxBytes int64) int {
	if maxBytes < 1 {
		return 0
	}
	return int((maxBytes + ModelChunkSize - 1) / ModelChunkSize)
}

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
	// Signature is the base64 Ed25519 signature of SigningBytes (Sign);
	// empty: unsigned. A reader with a verify key refuses an unsigned
	// manifest (Verify); one without reads the field and ignores it.
	Signature string `json:"signature,omitempty"`
	// KeyID names the key that signed it (ModelKeyID), for the logs of a
	// reader whose key does not verify it; not covered by the signature.
	KeyID string `json:"key_id,omitempty"`
}

// ChunkKey returns the key of chunk i of a version.
func ChunkKey(version string, i int) string { return version + "/" + strconv.Itoa(i) }

// ParseModelKey splits a models-topic key into the version and, for a
// chunk, its index; chunk is -1 for a manifest key. The index is decimal
// as ChunkKey writes it ("v/01" or "v/+1" is no chunk key: two keys for
// one chunk would both survive compaction).
func ParseModelKey(key string) (version string, chunk int, err error) {
	v, c, ok := strings.Cut(key, "/")
	if !ok {
		if key == "" {
			return "", 0, errors.New("topics: empty model key")
		}
		return key, -1, nil
	}
	i, err := strconv.Atoi(c)
	if err != nil || i < 0 || v == "" || strconv.Itoa(i) != c {
		return "", 0, fmt.Errorf("topics: model key %s: want <version> or <version>/<chunk>", brief(key))
	}
	return v, i, nil
}

// DecodeModelManifest decodes a manifest value strictly and refuses a
// manifest of a model over maxBytes bytes with an error that wraps
// ErrModelTooLarge; maxBytes < 1 refuses every manifest.
func DecodeModelManifest(key string, value []byte, maxBytes int64) (ModelManifest, error) {
	var m ModelManifest
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: %w", brief(key), err)
	}
	if m.Version != key {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s names version %s", brief(key), brief(m.Version))
	}
	if m.Size > maxBytes {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: %d bytes, over the limit of %d: %w", brief(key), m.Size, maxBytes, ErrModelTooLarge)
	}
	if err := m.check(); err != nil {
		return ModelManifest{}, err
	}
	if len(m.SHA256) != 64 {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: sha256 %s is not 64 hex digits", brief(key), brief(m.SHA256))
	}
	if _, err := hex.DecodeString(m.SHA256); err != nil {
		return ModelManifest{}, fmt.Errorf("topics: model manifest %s: sha256: %w", brief(key), err)
	}
	return m, nil
}

// check verifies that the chunk count fits the size. Size is bounded by
// the caller, or not at all (Assemble allocates from the chunks).
func (m ModelManifest) check() error {
	// Size <= MaxInt64-ModelChunkSize keeps the rounding below from
	// overflowing.
	if m.Chunks < 1 || m.Size < 1 || m.Size > math.MaxInt64-ModelChunkSize ||
		int64(m.Chunks) != (m.Size+ModelChunkSize-1)/ModelChunkSize {
		return fmt.Errorf("topics: model manifest %s: %d chunks for %d bytes", brief(m.Version), m.Chunks, m.Size)
	}
	return nil
}

// CheckChunk checks that chunk i of n bytes fits the manifest: i is one of
// its chunks, each chunk but the last holds ModelChunkSize bytes and the
// last the rest of Size.
func (m ModelManifest) CheckChunk(i, n int) error {
	if i < 0 || i >= m.Chunks {
		return fmt.Errorf("topics: model %s: chunk %d of %d", brief(m.Version), i, m.Chunks)
	}
	want := int64(ModelChunkSize)
	if i == m.Chunks-1 {
		want = m.Size - int64(m.Chunks-1)*ModelChunkSize
	}
	if int64(n) != want {
		return fmt.Errorf("topics: model %s: chunk %d of %d holds %d bytes, want %d", brief(m.Version), i, m.Chunks, n, want)
	}
	return nil
}

// CheckModelChunk checks chunk i of n bytes of a version before its
// manifest is known: a chunk holds 1 to ModelChunkSize bytes, and its
// model has at least i*ModelChunkSize+n of them, which must not be over
// maxBytes (an error that wraps ErrModelTooLarge). The chunks of one
// version that pass hold at most maxBytes bytes in all, whatever their
// number.
func CheckModelChunk(version string, i, n int, maxBytes int64) error {
	switch {
	case n < 1 || n > ModelChunkSize:
		return fmt.Errorf("topics: model %s: chunk %d holds %d bytes, want 1 to %d", brief(version), i, n, ModelChunkSize)
	case i < 0:
		return fmt.Errorf("topics: model %s: chunk %d", brief(version), i)
	case i >= MaxModelChunks(maxBytes) || int64(i)*ModelChunkSize+int64(n) > maxBytes:
		return fmt.Errorf("topics: model %s: chunk %d of %d bytes is past the limit of %d bytes: %w",
			brief(version), i, n, maxBytes, ErrModelTooLarge)
	}
	return nil
}

// Assemble joins a version's chunks (indexed by chunk number) and checks
// them against the manifest: count, the size of each chunk (CheckChunk),
// and the checksum. It allocates once, for the bytes of the chunks it was
// given, and only once they all fit the manifest, so that a manifest that
// claims more than was sent costs nothing. The result is the caller's;
// chunks are not kept.
func (m ModelManifest) Assemble(chunks map[int][]byte) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	// The loop ends at the first chunk missing, at most len(chunks) in:
	// a manifest's claimed count costs no more than the chunks given.
	for i := range m.Chunks {
		c, ok := chunks[i]
		if !ok {
			return nil, fmt.Errorf("topics: model %s: chunk %d of %d missing", brief(m.Version), i, m.Chunks)
		}
		if err := m.CheckChunk(i, len(c)); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, m.Size) // every chunk is there and fits: Size is what they hold
	for i := range m.Chunks {
		out = append(out, chunks[i]...)
	}
	sum := sha256.Sum256(out)
	if hex.EncodeToString(sum[:]) != m.SHA256 {
		return nil, fmt.Errorf("topics: model %s: checksum mismatch: the chunks are corrupt", brief(m.Version))
	}
	return out, nil
}

// PublishModel writes an artefact to the models topic as chunks and then
// its manifest, each acknowledged by all in-sync replicas, and returns the
// manifest. A non-nil key signs the manifest (ModelManifest.Sign); nil
// publishes it unsigned.
func PublishModel(ctx context.Context, brokers []string, topic Topic, version string, artefact []byte, key ed25519.PrivateKey, opts ...ClientOption) (ModelManifest, error) {
	if version == "" || strings.Contains(version, "/") {
		return ModelManifest{}, fmt.Errorf("topics: model version %s: want a non-empty name without '/'", brief(version))
	}
	if len(artefact) == 0 {
		return ModelManifest{}, errors.New("topics: empty model artefact")
	}
	sum := sha256.Sum256(artefact)
	m := ModelManifest{Version: version, Size: int64(len(artefact)), SHA256: hex.EncodeToString(sum[:]),
		Chunks: (len(artefact) + ModelChunkSize - 1) / ModelChunkSize, PublishedAt: time.Now().UTC()}
	if key != nil {
		if err := m.Sign(key); err != nil {
			return ModelManifest{}, err
		}
	}
	tr := applyOptions(opts).sec.Transport() // not the shared default's cached metadata
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

// PruneModels withdraws the versions on the models topic older than its
// newest keep (keep >= 1), so that the topic, and what every starting
// instance reads, stays a few models long: it reads the topic up to its
// end offsets at the call (values are dropped as they come: it holds keys,
// never models) and writes a tombstone on every key of an older version
// that still holds a value, manifest first, then the chunks, each
// acknowledged by all in-sync replicas. The topic is compacted (see
// [Admin.Create]), so compaction then removes the withdrawn records.
//
// Versions are ordered by the offset of their manifest; a manifest that
// does not decode makes no version to keep. Chunks of a version with no
// manifest are withdrawn when they all come before the oldest manifest kept
// (a publisher that died); later ones may be a model being published, and
// are left. PruneModels returns the versions withdrawn, oldest first.
func PruneModels(ctx context.Context, brokers []string, topic Topic, keep int, opts ...ClientOption) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("topics: prune models: keep %d: want at least 1", keep)
	}
	a, err := NewAdmin(brokers, opts...)
	if err != nil {
		return nil, err
	}
	ranges, err := a.ReplayRanges(ctx, topic, time.Time{}, time.Time{})
	a.Close()
	if err != nil {
		return nil, fmt.Errorf("topics: prune models: %w", err)
	}
	type liveVersion struct {
		keys     map[string]int // live key -> its partition
		manifest int64          // order of the live manifest; -1: none
		last     int64          // order of the last record
	}
	versions := map[string]*liveVersion{}
	var seq int64 // the order of a record: partitions in turn, offsets within
	for _, r := range ranges {
		err := ReadRange(ctx, brokers, r, func(m kafka.Message) error {
			seq++
			version, chunk, err := ParseModelKey(string(m.Key))
			if err != nil {
				return nil // not a key of a model: no reader takes it for one
			}
			v := versions[version]
			if v == nil {
				v = &liveVersion{keys: map[string]int{}, manifest: -1}
				versions[version] = v
			}
			v.last = seq
			if m.Value == nil {
				delete(v.keys, string(m.Key))
				if chunk < 0 {
					v.manifest = -1
				}
				return nil
			}
			v.keys[string(m.Key)] = m.Partition
			if chunk < 0 {
				v.manifest = -1
				if _, err := DecodeModelManifest(version, m.Value, math.MaxInt64-ModelChunkSize); err == nil {
					v.manifest = seq
				}
			}
			return nil
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("topics: prune models: %w", err)
		}
	}
	byManifest := slices.SortedFunc(maps.Keys(versions), func(a, b string) int {
		return cmp.Compare(versions[b].manifest, versions[a].manifest) // newest first
	})
	oldestKept := int64(-1)
	for i, name := range byManifest {
		if i == keep || versions[name].manifest < 0 {
			break
		}
		oldestKept = versions[name].manifest
		delete(versions, name)
	}
	if oldestKept < 0 {
		return nil, nil // no model on the topic: every chunk may be one being published
	}
	var withdrawn []string
	for name, v := range versions {
		if len(v.keys) > 0 && (v.manifest >= 0 || v.last < oldestKept) {
			withdrawn = append(withdrawn, name)
		}
	}
	slices.SortFunc(withdrawn, func(a, b string) int { return cmp.Compare(versions[a].last, versions[b].last) })
	var msgs []kafka.Message
	for _, name := range withdrawn {
		keys := versions[name].keys
		for _, key := range slices.SortedFunc(maps.Keys(keys), func(a, b string) int {
			_, i, _ := ParseModelKey(a)
			_, j, _ := ParseModelKey(b)
			return cmp.Compare(i, j) // the manifest (-1) first
		}) {
			msgs = append(msgs, kafka.Message{Key: []byte(key), Value: nil, WriterData: keys[key]})
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	tr := applyOptions(opts).sec.Transport() // not the shared default's cached metadata
	defer tr.CloseIdleConnections()
	w := &kafka.Writer{Transport: tr, Addr: kafka.TCP(brokers...), Topic: string(topic), BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		// A tombstone goes to the partition of the record it withdraws.
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int { return m.WriterData.(int) })}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		return nil, errors.Join(fmt.Errorf("topics: prune models: withdraw %d versions: %w", len(withdrawn), err), w.Close())
	}
	return withdrawn, w.Close()
}
