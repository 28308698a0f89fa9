package topics

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

func TestPublishModelInChunks(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
		artefact := make([]byte, 2*ModelChunkSize+12345)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range artefact {
			artefact[i] = byte(r.Uint32())
		}
		pub, key, err := ed25519.GenerateKey(nil)
		require.NoError(t, err)
		m, err := PublishModel(t.Context(), brokers, names.Models, "m-1", artefact, key)
		require.NoError(t, err)
		require.Equal(t, 3, m.Chunks)
		require.Equal(t, ModelKeyID(pub), m.KeyID)

		rd := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(names.Models), Partition: 0, MaxWait: 500 * time.Millisecond})
		defer func() { require.NoError(t, rd.Close()) }()
		chunks := map[int][]byte{}
		var manifest ModelManifest
		for manifest.Version == "" {
			msg, err := rd.ReadMessage(t.Context())
			require.NoError(t, err)
			require.LessOrEqual(t, len(msg.Value), ModelChunkSize)
			v, i, err := ParseModelKey(string(msg.Key))
			require.NoError(t, err)
			require.Equal(t, "m-1", v)
			if i >= 0 {
				chunks[i] = msg.Value
				continue
			}
			manifest, err = DecodeModelManifest(string(msg.Key), msg.Value, DefaultMaxModelBytes)
			require.NoError(t, err)
		}
		require.NoError(t, manifest.Verify(pub), "the manifest read back is the one signed")
		got, err := manifest.Assemble(chunks)
		require.NoError(t, err)
		require.True(t, bytes.Equal(artefact, got))

		// A corrupt or missing chunk is refused.
		chunks[1] = append([]byte{}, chunks[1]...)
		chunks[1][7] ^= 1
		_, err = manifest.Assemble(chunks)
		require.ErrorContains(t, err, "checksum")
		delete(chunks, 2)
		_, err = manifest.Assemble(chunks)
		require.ErrorContains(t, err, "chunk 2 of 3 missing")
	})
}

func TestParseModelKey(t *testing.T) {
	for _, tc := range []struct {
		key     string
		version string
		chunk   int
		err     bool
	}{
		{key: "m-7/12", version: "m-7", chunk: 12},
		{key: "m-7/0", version: "m-7", chunk: 0},
		{key: "m-7", version: "m-7", chunk: -1},
		{key: "", err: true},
		{key: "/1", err: true},
		{key: "m/x", err: true},
		{key: "m/-1", err: true},
		{key: "m/", err: true},
		{key: "m/01", err: true}, // a second key for chunk 1 would survive compaction
		{key: "m/+1", err: true},
		{key: "m/1/2", err: true},
		{key: "m/99999999999999999999", err: true},
	} {
		t.Run(tc.key, func(t *testing.T) {
			v, i, err := ParseModelKey(tc.key)
			if tc.err {
				require.Error(t, err, "got version %q chunk %d, want an error", v, i)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.version, v, "version")
			require.Equal(t, tc.chunk, i, "chunk")
		})
	}
}

// manifestJSON is a manifest value with the given fields and a well-formed
// checksum.
func manifestJSON(version string, chunks int, size int64) string {
	return fmt.Sprintf(`{"version":%q,"chunks":%d,"size":%d,"sha256":%q}`, version, chunks, size, strings.Repeat("ab", 32))
}

func TestDecodeModelManifest(t *testing.T) {
	const max = 10 * ModelChunkSize
	hugeSize := int64(1) << 50 // the size of a manifest that once crashed every instance
	hugeChunks := int((hugeSize + ModelChunkSize - 1) / ModelChunkSize)
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, key, value string
		tooLarge         bool // an error that wraps ErrModelTooLarge
		err              string
	}{
		{name: "ok", key: "m", value: `{"version":"m","chunks":1,"size":10,"sha256":"` + sum + `","published_at":"2026-01-01T00:00:00Z"}`},
		{name: "at the limit", key: "m", value: manifestJSON("m", 10, max)},
		{name: "2^50 bytes", key: "m", value: manifestJSON("m", hugeChunks, hugeSize), tooLarge: true, err: "over the limit"},
		{name: "a byte over the limit", key: "m", value: manifestJSON("m", 11, max+1), tooLarge: true, err: "over the limit"},
		{name: "max int64", key: "m", value: manifestJSON("m", 1, math.MaxInt64), tooLarge: true, err: "over the limit"},
		{name: "other version", key: "other", value: manifestJSON("m", 1, 10), err: "names version"},
		{name: "chunks do not fit the size", key: "m", value: manifestJSON("m", 2, 10), err: "2 chunks for 10 bytes"},
		{name: "no chunks", key: "m", value: manifestJSON("m", 0, 0), err: "0 chunks"},
		{name: "negative size", key: "m", value: manifestJSON("m", 1, -5), err: "1 chunks for -5 bytes"},
		{name: "short sha256", key: "m", value: `{"version":"m","chunks":1,"size":10,"sha256":"xyz"}`, err: "not 64 hex digits"},
		{name: "sha256 not hex", key: "m", value: `{"version":"m","chunks":1,"size":10,"sha256":"` + strings.Repeat("zz", 32) + `"}`, err: "sha256"},
		{name: "unknown field", key: "m", value: `{"version":"m","chunks":1,"size":10,"sha256":"` + sum + `","extra":1}`, err: "unknown field"},
		{name: "chunks overflow", key: "m", value: `{"version":"m","chunks":1e30,"size":10,"sha256":"` + sum + `"}`, err: "cannot unmarshal"},
		{name: "not json", key: "m", value: `not json`, err: "invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := DecodeModelManifest(tc.key, []byte(tc.value), max)
			if tc.err == "" {
				require.NoError(t, err)
				require.Equal(t, tc.key, m.Version)
				return
			}
			require.ErrorContains(t, err, tc.err)
			require.Equal(t, tc.tooLarge, errors.Is(err, ErrModelTooLarge), "got %v, want ErrModelTooLarge %v", err, tc.tooLarge)
		})
	}
}

// TestAssembleHugeManifest: a manifest claiming 2^50 bytes, with the
// chunk count to match, built by hand (past DecodeModelManifest's bound)
// is refused for its missing chunks without allocating for its size.
func TestAssembleHugeManifest(t *testing.T) {
	size := int64(1) << 50
	m := ModelManifest{Version: "huge", Chunks: int((size + ModelChunkSize - 1) / ModelChunkSize), Size: size, SHA256: strings.Repeat("ab", 32)}
	for _, tc := range []struct {
		name   string
		chunks map[int][]byte
		err    string
	}{
		{name: "no chunks", chunks: nil, err: "chunk 0 of 1221679587 missing"},
		{name: "two chunks", chunks: map[int][]byte{0: make([]byte, ModelChunkSize), 1: make([]byte, ModelChunkSize)}, err: "chunk 2 of 1221679587 missing"},
		{name: "a gap", chunks: map[int][]byte{0: make([]byte, ModelChunkSize), 5: {1}}, err: "chunk 1 of 1221679587 missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := m.Assemble(tc.chunks)
			runtime.ReadMemStats(&after)
			require.ErrorContains(t, err, tc.err)
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "got %d bytes allocated", after.TotalAlloc-before.TotalAlloc)
		})
	}
}

func TestAssembleChecksEachChunk(t *testing.T) {
	artefact := make([]byte, 2*ModelChunkSize+100)
	for i := range artefact {
		artefact[i] = byte(i * 7)
	}
	sum := sha256.Sum256(artefact)
	m := ModelManifest{Version: "m", Chunks: 3, Size: int64(len(artefact)), SHA256: hex.EncodeToString(sum[:])}
	split := func() map[int][]byte {
		return map[int][]byte{0: artefact[:ModelChunkSize], 1: artefact[ModelChunkSize : 2*ModelChunkSize], 2: artefact[2*ModelChunkSize:]}
	}
	for _, tc := range []struct {
		name   string
		change func(map[int][]byte)
		err    string
	}{
		{name: "whole", change: func(map[int][]byte) {}},
		{name: "an extra chunk is not read", change: func(c map[int][]byte) { c[3] = []byte{1} }},
		{name: "short first chunk", change: func(c map[int][]byte) { c[0] = c[0][:10] }, err: "chunk 0 of 3 holds 10 bytes, want 921600"},
		{name: "long last chunk", change: func(c map[int][]byte) { c[2] = append(bytes.Clone(c[2]), 0) }, err: "chunk 2 of 3 holds 101 bytes, want 100"},
		{name: "short last chunk", change: func(c map[int][]byte) { c[2] = c[2][:99] }, err: "chunk 2 of 3 holds 99 bytes, want 100"},
		{name: "same bytes, other cut", change: func(c map[int][]byte) {
			c[1] = artefact[ModelChunkSize : 2*ModelChunkSize+50]
			c[2] = artefact[2*ModelChunkSize+50:]
		}, err: "chunk 1 of 3 holds 921650 bytes"},
		{name: "missing", change: func(c map[int][]byte) { delete(c, 1) }, err: "chunk 1 of 3 missing"},
		{name: "flipped bit", change: func(c map[int][]byte) {
			c[1] = bytes.Clone(c[1])
			c[1][7] ^= 1
		}, err: "checksum mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := split()
			tc.change(c)
			got, err := m.Assemble(c)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.True(t, bytes.Equal(artefact, got), "got %d bytes, want the artefact's %d", len(got), len(artefact))
		})
	}
	_, err := ModelManifest{Version: "m", Chunks: 0, SHA256: m.SHA256}.Assemble(split())
	require.ErrorContains(t, err, "0 chunks for 0 bytes")
}

func TestCheckModelChunk(t *testing.T) {
	const max = 3*ModelChunkSize + 10
	for _, tc := range []struct {
		name     string
		i, n     int
		max      int64
		tooLarge bool
		err      string
	}{
		{name: "first", i: 0, n: ModelChunkSize, max: max},
		{name: "last at the limit", i: 3, n: 10, max: max},
		{name: "last a byte over", i: 3, n: 11, max: max, tooLarge: true, err: "past the limit"},
		{name: "index past the limit", i: 4, n: 1, max: max, tooLarge: true, err: "past the limit"},
		{name: "index far past", i: math.MaxInt, n: 1, max: max, tooLarge: true, err: "past the limit"},
		{name: "empty", i: 0, n: 0, max: max, err: "holds 0 bytes"},
		{name: "oversized", i: 0, n: ModelChunkSize + 1, max: max, err: "holds 921601 bytes"},
		{name: "negative index", i: -1, n: 1, max: max, err: "chunk -1"},
		{name: "no room", i: 0, n: 1, max: 0, tooLarge: true, err: "past the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckModelChunk("m", tc.i, tc.n, tc.max)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
			require.Equal(t, tc.tooLarge, errors.Is(err, ErrModelTooLarge), "got %v, want ErrModelTooLarge %v", err, tc.tooLarge)
		})
	}
	for _, tc := range []struct {
		max  int64
		want int
	}{{0, 0}, {-1, 0}, {1, 1}, {ModelChunkSize, 1}, {ModelChunkSize + 1, 2}, {DefaultMaxModelBytes, 1166}} {
		require.Equal(t, tc.want, MaxModelChunks(tc.max), "MaxModelChunks(%d)", tc.max)
	}
}

// TestPruneModels: train --publish keeps the newest versions on the models
// topic and tombstones every key of the older ones, and of chunks a dead
// publisher left before them; chunks after the newest manifest (a model
// being published) are left.
func TestPruneModels(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
		w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Models),
			BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 2 * ModelChunkSize}
		defer func() { require.NoError(t, w.Close()) }()
		write := func(key, value string) {
			require.NoError(t, w.WriteMessages(t.Context(), kafka.Message{Key: []byte(key), Value: []byte(value)}))
		}
		publish := func(version string, size int) {
			_, err := PublishModel(t.Context(), brokers, names.Models, version, bytes.Repeat([]byte{byte(size)}, size), nil)
			require.NoError(t, err)
		}
		write("dead/0", "a chunk whose manifest never came")
		publish("v1", ModelChunkSize+5) // two chunks
		publish("v2", 10)
		write("junk", "not a manifest")
		publish("v3", 20)
		publish("v4", 30)
		publish("v5", 40)
		write("busy/0", "a chunk of a model being published")

		got, err := PruneModels(t.Context(), brokers, names.Models, 3)
		require.NoError(t, err)
		require.Equal(t, []string{"dead", "v1", "v2", "junk"}, got, "withdrawn")

		// The newest value of every key on the topic.
		ranges, err := a.ReplayRanges(t.Context(), names.Models, time.Time{}, time.Time{})
		require.NoError(t, err)
		live := map[string]bool{}
		for _, r := range ranges {
			require.NoError(t, ReadRange(t.Context(), brokers, r, func(m kafka.Message) error {
				live[string(m.Key)] = m.Value != nil
				return nil
			}))
		}
		want := map[string]bool{"dead/0": false, "v1": false, "v1/0": false, "v1/1": false, "v2": false, "v2/0": false, "junk": false,
			"v3": true, "v3/0": true, "v4": true, "v4/0": true, "v5": true, "v5/0": true, "busy/0": true}
		require.Equal(t, want, live, "keys holding a value (true) or a tombstone (false)")

		// Again: nothing left to withdraw. Fewer versions than keep: none.
		got, err = PruneModels(t.Context(), brokers, names.Models, 3)
		require.NoError(t, err)
		require.Empty(t, got, "withdrawn on a second prune")
		got, err = PruneModels(t.Context(), brokers, names.Models, 10)
		require.NoError(t, err)
		require.Empty(t, got, "withdrawn with keep 10")
		_, err = PruneModels(t.Context(), brokers, names.Models, 0)
		require.ErrorContains(t, err, "want at least 1")
	})
}
