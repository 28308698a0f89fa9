package processor

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestModelRollout: a processor serves each model published on the models
// topic without a restart, and the records it publishes after the swap
// carry the new version; a corrupt or truncated model is refused (metric
// by reason) while the serving model keeps serving; a restarted processor
// serves the newest model from the topic that verifies.
func TestModelRollout(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testModelRollout(t, brokers) })
	}
}

func testModelRollout(t *testing.T, brokers []string) {
	names, _, prod, shop, _ := shopOnTopics(t, brokers)
	artefact := testArtefact(t)

	dir := t.TempDir()
	start := func() (*Processor, *prometheus.Registry, func()) {
		in := startInstance(t, brokers, names, dir, Config{Engine: EngineConfig{Knobs: Knobs{K: 5}}}, nil)
		return in.p, in.reg, in.stop
	}
	p, reg, stop := start()
	require.Nil(t, p.Engine(), "no model yet")
	serving := func() string {
		if e := p.Engine(); e != nil {
			return e.Version()
		}
		return ""
	}
	rejected := func(reason string) float64 {
		mfs, err := reg.Gather()
		require.NoError(t, err)
		for _, mf := range mfs {
			if mf.GetName() == "sessionrec_model_rejected_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == reason {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}

	// Version A, then a record carrying it.
	_, err := topics.PublishModel(t.Context(), brokers, names.Models, "model-a", artefact, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return serving() == "model-a" }, 30*time.Second, 20*time.Millisecond)
	click := func(user string, i int) {
		require.NoError(t, prod.Send(t.Context(), topics.Event{Kind: topics.KindClick, UserID: user,
			ItemID: shop.Items[shop.ByTopic[0][i]].ID, Time: time.Now().Truncate(time.Millisecond)}))
	}
	click("u-a", 0)
	recordVersion := func(user string) string {
		var v string
		readAll(t, brokers, names.Recommendations, 2, 30*time.Second, func(ms []kafka.Message) bool {
			for _, m := range ms {
				if string(m.Key) == user {
					r, err := topics.DecodeRecommendation(m.Value)
					require.NoError(t, err)
					v = r.ModelVersion
					return true
				}
			}
			return false
		})
		return v
	}
	require.Equal(t, "model-a", recordVersion("u-a"))

	// Corrupt chunks (a flipped bit under a manifest of the true bytes),
	// then a truncated artefact under its own correct manifest: both are
	// refused, model-a keeps serving.
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Models), BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 * topics.ModelChunkSize}
	defer func() { require.NoError(t, w.Close()) }()
	manifest := func(version string, b []byte) []byte {
		sum := sha256.Sum256(b)
		v, err := json.Marshal(topics.ModelManifest{Version: version, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]),
			Chunks: (len(b) + topics.ModelChunkSize - 1) / topics.ModelChunkSize})
		require.NoError(t, err)
		return v
	}
	flipped := bytes.Clone(artefact)
	flipped[len(flipped)/2] ^= 0x10
	require.Less(t, len(artefact), topics.ModelChunkSize, "the test model is one chunk")
	require.NoError(t, w.WriteMessages(t.Context(),
		kafka.Message{Key: []byte(topics.ChunkKey("model-bad", 0)), Value: flipped},
		kafka.Message{Key: []byte("model-bad"), Value: manifest("model-bad", artefact)}))
	require.Eventually(t, func() bool { return rejected("corrupt_chunks") == 1 }, 30*time.Second, 20*time.Millisecond)
	truncated := artefact[:len(artefact)-100]
	require.NoError(t, w.WriteMessages(t.Context(),
		kafka.Message{Key: []byte(topics.ChunkKey("model-short", 0)), Value: truncated},
		kafka.Message{Key: []byte("model-short"), Value: manifest("model-short", truncated)}))
	require.Eventually(t, func() bool { return rejected("corrupt_artefact") == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-a", serving())
	click("u-a2", 1)
	require.Equal(t, "model-a", recordVersion("u-a2"), "the old model keeps serving")

	// Version B replaces it without a restart.
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-b", artefact, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return serving() == "model-b" }, 30*time.Second, 20*time.Millisecond)
	click("u-b", 2)
	require.Equal(t, "model-b", recordVersion("u-b"))

	// A model of an artefact format this build does not read is refused as
	// incompatible (its chunks and checksum are fine).
	future := bytes.Clone(artefact)
	future[8], future[9] = 0xff, 0x00 // the format version, after the 8-byte magic
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-future", future, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rejected("incompatible") == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-b", serving())

	// A manifest that claims 2^50 bytes, with the chunk count to match
	// (it once crashed every instance at start), is refused as too large.
	huge := int64(1) << 50
	require.NoError(t, w.WriteMessages(t.Context(), kafka.Message{Key: []byte("model-huge"), Value: []byte(fmt.Sprintf(
		`{"version":"model-huge","chunks":%d,"size":%d,"sha256":%q}`, (huge+topics.ModelChunkSize-1)/topics.ModelChunkSize, huge, strings.Repeat("ab", 32)))}))
	require.Eventually(t, func() bool { return rejected("too_large") == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-b", serving())
	stop()

	// A restart serves the newest model on the topic that verifies:
	// model-huge and model-future are refused again, model-b serves.
	p, reg, stop = start()
	defer stop()
	require.Equal(t, "model-b", serving())
	require.Equal(t, map[string]float64{"too_large": 1, "incompatible": 1}, counterValues(t, reg, "sessionrec_model_rejected_total"),
		"refused at the restart, by reason")
}

// modelLog is a models topic of one partition for a follower run without
// Kafka: the offset of a record is its index.
type modelLog []kafka.Message

func (l *modelLog) add(key string, value []byte) {
	*l = append(*l, kafka.Message{Key: []byte(key), Value: value, Offset: int64(len(*l))})
}

// publish adds an artefact's chunks and then its manifest, as
// topics.PublishModel writes them.
func (l *modelLog) publish(version string, artefact []byte) {
	n := (len(artefact) + topics.ModelChunkSize - 1) / topics.ModelChunkSize
	for i := range n {
		l.add(topics.ChunkKey(version, i), artefact[i*topics.ModelChunkSize:min((i+1)*topics.ModelChunkSize, len(artefact))])
	}
	l.add(version, manifestOf(version, artefact))
}

// manifestOf is the manifest value of an artefact.
func manifestOf(version string, artefact []byte) []byte {
	sum := sha256.Sum256(artefact)
	v, err := json.Marshal(topics.ModelManifest{Version: version, Size: int64(len(artefact)), SHA256: hex.EncodeToString(sum[:]),
		Chunks: (len(artefact) + topics.ModelChunkSize - 1) / topics.ModelChunkSize})
	if err != nil {
		panic(err)
	}
	return v
}

// newTestFollower is a model follower around a processor that is never
// run, over a store in memory, with maxBytes as its bound (0: the
// default); the records are the test's.
func newTestFollower(t testing.TB, maxBytes int64) (*modelFollower, *prometheus.Registry) {
	t.Helper()
	return newTestFollowerConfig(t, Config{MaxModelBytes: maxBytes})
}

// newTestFollowerConfig is newTestFollower with cfg's model settings
// (MaxModelBytes, ModelVerifyKey) and Logger (default: discard).
func newTestFollowerConfig(t testing.TB, cfg Config) (*modelFollower, *prometheus.Registry) {
	t.Helper()
	db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	reg := prometheus.NewRegistry()
	cfg.Brokers, cfg.Metrics = []string{"localhost:1"}, NewMetrics(reg)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := New(cfg, db)
	require.NoError(t, err)
	return newModelFollower(p.views), reg
}

// heldBytes counts the bytes of the chunks f holds, from its maps.
func heldBytes(f *modelFollower) int64 {
	var n int64
	for _, vc := range f.pending {
		for _, c := range vc.chunks {
			n += int64(len(c))
		}
	}
	if f.reading != nil {
		for _, c := range f.reading.chunks {
			n += int64(len(c))
		}
	}
	return n
}

// feed runs f as an instance started when the topic held log[:end]: the
// catch-up reads log[:end], then the live follow reads on from where
// catchUp says (end when it names no offset). It calls check after every
// record f takes.
func feed(f *modelFollower, log modelLog, end int, check func()) error {
	read := func(_ int32, from, to int64, fn func(kafka.Message) error) error {
		if to < 0 {
			to = int64(end)
		}
		for _, m := range log[max(from, 0):to] {
			if err := fn(m); err != nil {
				return err
			}
			check()
		}
		return nil
	}
	resume, err := f.catchUp([]int32{0}, read)
	if err != nil {
		return err
	}
	from := int64(end)
	if o, ok := resume[0]; ok {
		from = o
	}
	for _, m := range log[from:] {
		if err := f.apply(m); err != nil {
			return err
		}
		check()
	}
	return nil
}

// counterValues returns the values of a counter family by its label's
// value.
func counterValues(t testing.TB, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			label := ""
			if len(m.GetLabel()) > 0 {
				label = m.GetLabel()[0].GetValue()
			}
			out[label] = m.GetCounter().GetValue()
		}
	}
	return out
}

// noise is n bytes that are no model artefact: one that assembles is
// refused as incompatible.
func noise(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ seed
	}
	return b
}

// TestModelFollower feeds the model follower topics without Kafka: what
// it serves, what it refuses (the metric by reason), and the most bytes of
// chunks it holds at any point, while catching up and while following.
// followCase is a models-topic log fed to a follower, and what the
// follower must end with.
type followCase struct {
	name     string
	maxBytes int64             // Config.MaxModelBytes
	key      ed25519.PublicKey // Config.ModelVerifyKey
	log      func(l *modelLog)
	// end is where the catch-up ends: the records from it are live; -1
	// reads the whole log while catching up.
	end      int
	serving  string
	rollouts float64 // models served
	rejected map[string]float64
	maxHeld  int64 // the most bytes of chunks held at any point
}

// run feeds the log to a new follower and checks the model it serves, the
// rollouts and refusals counted, the most bytes held, and a log line per
// bad signature.
func (tc followCase) run(t *testing.T) {
	var logs bytes.Buffer
	f, reg := newTestFollowerConfig(t, Config{MaxModelBytes: tc.maxBytes, ModelVerifyKey: tc.key,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f.v.cat.mu.Lock()
	f.v.cat.markLoaded() // SetModel builds an engine
	f.v.cat.mu.Unlock()
	var l modelLog
	tc.log(&l)
	end := tc.end
	if end < 0 {
		end = len(l)
	}
	var held int64
	require.NoError(t, feed(f, l, end, func() { held = max(held, heldBytes(f)) }))
	serving := ""
	if e := f.v.engine(); e != nil {
		serving = e.Version()
	}
	require.Equal(t, tc.serving, serving, "serving")
	require.Equal(t, tc.rollouts, counterValues(t, reg, "sessionrec_model_rollouts_total")[""], "models served")
	want := tc.rejected
	if want == nil {
		want = map[string]float64{}
	}
	require.Equal(t, want, counterValues(t, reg, "sessionrec_model_rejected_total"), "refused by reason")
	require.Equal(t, tc.maxHeld, held, "got %d bytes held at most, want %d", held, tc.maxHeld)
	if n := tc.rejected["bad_signature"]; n > 0 {
		require.Equal(t, int(n), strings.Count(logs.String(), "reason=bad_signature"), "a log line per refusal:\n%s", logs.String())
		if tc.end >= 0 { // live: a model serves
			require.Contains(t, logs.String(), "serving=m-1", "the line names the model that keeps serving")
		}
	}
}

// testArtefact is testModel's artefact.
func testArtefact(t *testing.T) []byte {
	t.Helper()
	m, err := testModel()
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = m.WriteTo(&buf)
	require.NoError(t, err)
	return buf.Bytes()
}

func TestModelFollower(t *testing.T) {
	artefact := testArtefact(t)
	require.Less(t, len(artefact), topics.ModelChunkSize, "the test model is one chunk")
	const cs = topics.ModelChunkSize
	big := noise(3*cs+100, 1) // four chunks, no model
	huge := int64(1) << 50

	for _, tc := range []followCase{
		{
			name: "a manifest of 2^50 bytes at start",
			log: func(l *modelLog) {
				l.publish("m-good", artefact)
				l.add(topics.ChunkKey("m-huge", 0), noise(cs, 2))
				l.add("m-huge", []byte(fmt.Sprintf(`{"version":"m-huge","chunks":%d,"size":%d,"sha256":%q}`,
					(huge+cs-1)/cs, huge, strings.Repeat("ab", 32))))
			},
			end: -1, serving: "m-good", rejected: map[string]float64{"too_large": 1}, rollouts: 1, maxHeld: int64(len(artefact)),
		},
		{
			name: "a manifest of 2^50 bytes live",
			log: func(l *modelLog) {
				l.publish("m-good", artefact)
				l.add(topics.ChunkKey("m-huge", 0), noise(cs, 2))
				l.add("m-huge", []byte(fmt.Sprintf(`{"version":"m-huge","chunks":%d,"size":%d,"sha256":%q}`,
					(huge+cs-1)/cs, huge, strings.Repeat("ab", 32))))
			},
			end: 0, serving: "m-good", rejected: map[string]float64{"too_large": 1}, rollouts: 1, maxHeld: cs,
		},
		{
			name:     "chunks past the bound are refused once and not held",
			maxBytes: 2 * cs,
			log: func(l *modelLog) {
				l.add(topics.ChunkKey("m-x", 0), noise(cs, 3))
				l.add(topics.ChunkKey("m-x", 2), noise(1, 3))
				l.add(topics.ChunkKey("m-x", 3), noise(1, 3))
				l.add(topics.ChunkKey("m-x", 1<<40), noise(1, 3))
				l.add("m-x", manifestOf("m-x", noise(2*cs+1, 3)))
				l.publish("m-good", artefact)
			},
			end: 0, serving: "m-good", rejected: map[string]float64{"too_large": 1}, rollouts: 1, maxHeld: cs,
		},
		{
			name: "an oversized chunk value is refused",
			log: func(l *modelLog) {
				l.add(topics.ChunkKey("m-x", 0), noise(cs+1, 3))
				l.add("m-x", manifestOf("m-x", noise(cs+1, 3)))
				l.add(topics.ChunkKey("m-y", 0), nil) // a tombstone of nothing held
				l.add("m-y/01", []byte("x"))
			},
			end: 0, rejected: map[string]float64{"corrupt_chunks": 1, "bad_key": 1}, rollouts: 0, maxHeld: 0,
		},
		{
			name:     "pending chunks are at most the bound in all, the oldest version dropped",
			maxBytes: 3 * cs,
			log: func(l *modelLog) {
				a, b := noise(2*cs, 4), noise(2*cs, 5)
				l.add(topics.ChunkKey("m-a", 0), a[:cs])
				l.add(topics.ChunkKey("m-a", 1), a[cs:])
				l.add(topics.ChunkKey("m-b", 0), b[:cs])
				l.add(topics.ChunkKey("m-b", 1), b[cs:]) // 4 chunks > 3: m-a's go
				l.add("m-a", manifestOf("m-a", a))       // corrupt_chunks: its chunks were dropped
				l.add("m-b", manifestOf("m-b", b))       // incompatible: its chunks assembled
			},
			end: 0, rejected: map[string]float64{"corrupt_chunks": 1, "incompatible": 1}, rollouts: 0, maxHeld: 3 * cs,
		},
		{
			name: "pending versions are at most maxPendingVersions",
			log: func(l *modelLog) {
				for i := range maxPendingVersions + 1 {
					l.add(topics.ChunkKey(fmt.Sprintf("m-%d", i), 0), noise(100, byte(i)))
				}
				for i := range maxPendingVersions + 1 {
					l.add(fmt.Sprintf("m-%d", i), manifestOf(fmt.Sprintf("m-%d", i), noise(100, byte(i))))
				}
			},
			end: 0, rejected: map[string]float64{"corrupt_chunks": 1, "incompatible": float64(maxPendingVersions)}, rollouts: 0, maxHeld: 100 * maxPendingVersions,
		},
		{
			name: "a start reads the chunks of the newest model only",
			log: func(l *modelLog) {
				l.publish("m-1", big)
				l.publish("m-2", noise(len(big), 7))
				l.publish("m-3", artefact)
			},
			end: -1, serving: "m-3", rollouts: 1, maxHeld: int64(len(artefact)),
		},
		{
			name: "a start serves the newest model that verifies",
			log: func(l *modelLog) {
				l.publish("m-1", artefact)
				l.publish("m-2", big) // incompatible
				flipped := bytes.Clone(artefact)
				flipped[100] ^= 1
				l.add(topics.ChunkKey("m-3", 0), flipped)
				l.add("m-3", manifestOf("m-3", artefact)) // corrupt_chunks
				l.add(topics.ChunkKey("m-4", 0), artefact[:10])
				l.add("m-4", manifestOf("m-4", artefact)) // corrupt_chunks: a chunk of 10 bytes
			},
			end: -1, serving: "m-1", rejected: map[string]float64{"corrupt_chunks": 2, "incompatible": 1}, rollouts: 1, maxHeld: int64(len(big)),
		},
		{
			name: "a tombstoned manifest is not served at start",
			log: func(l *modelLog) {
				l.publish("m-1", artefact)
				l.publish("m-2", artefact)
				l.add("m-2", nil)
			},
			end: -1, serving: "m-1", rollouts: 1, maxHeld: int64(len(artefact)),
		},
		{
			name: "a model being published at start is served when its manifest comes",
			log: func(l *modelLog) {
				l.publish("m-1", artefact)
				l.add(topics.ChunkKey("m-2", 0), artefact)
				l.add(topics.ChunkKey("m-dead", 0), noise(10, 1)) // a publisher that died
				l.add("m-2", manifestOf("m-2", artefact))         // live
			},
			end: 3, serving: "m-2", rollouts: 2, maxHeld: int64(len(artefact)) + 10,
		},
		{
			name: "a start serves once, whatever it reads again",
			log: func(l *modelLog) {
				l.add(topics.ChunkKey("m-dead", 0), noise(10, 1)) // a publisher that died: read again live
				l.add("m-x/01", []byte("x"))                      // refused once
				l.publish("m-1", artefact)
				l.publish("m-2", artefact)
				l.add("m-3", []byte("not json")) // refused once
			},
			end: -1, serving: "m-2", rejected: map[string]float64{"bad_key": 1, "bad_manifest": 1}, rollouts: 1, maxHeld: int64(len(artefact)) + 10,
		},
		{
			name: "a bad manifest is refused",
			log: func(l *modelLog) {
				l.publish("m-1", artefact)
				l.add("m-2", []byte(`{"version":"m-2"}`))
				l.add("m-3", []byte(`not json`))
			},
			end: 2, serving: "m-1", rejected: map[string]float64{"bad_manifest": 2}, rollouts: 1, maxHeld: int64(len(artefact)),
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

// signedManifestOf is the manifest value of an artefact, signed with key.
func signedManifestOf(version string, artefact []byte, key ed25519.PrivateKey) []byte {
	sum := sha256.Sum256(artefact)
	m := topics.ModelManifest{Version: version, Size: int64(len(artefact)), SHA256: hex.EncodeToString(sum[:]),
		Chunks: (len(artefact) + topics.ModelChunkSize - 1) / topics.ModelChunkSize}
	if err := m.Sign(key); err != nil {
		panic(err)
	}
	v, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return v
}

// forgedManifestOf is what a writer to the models topic without the key
// can make of a signed manifest: the manifest key signed for signedFor,
// its size, chunk count and SHA-256 changed to the artefact's.
func forgedManifestOf(version string, artefact, signedFor []byte, key ed25519.PrivateKey) []byte {
	var m topics.ModelManifest
	if err := json.Unmarshal(signedManifestOf(version, signedFor, key), &m); err != nil {
		panic(err)
	}
	sum := sha256.Sum256(artefact)
	m.SHA256, m.Size = hex.EncodeToString(sum[:]), int64(len(artefact))
	m.Chunks = (len(artefact) + topics.ModelChunkSize - 1) / topics.ModelChunkSize
	v, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return v
}

// publishSigned adds an artefact's chunks and then its manifest, signed
// with key, as topics.PublishModel writes them.
func (l *modelLog) publishSigned(version string, artefact []byte, key ed25519.PrivateKey) {
	n := (len(artefact) + topics.ModelChunkSize - 1) / topics.ModelChunkSize
	for i := range n {
		l.add(topics.ChunkKey(version, i), artefact[i*topics.ModelChunkSize:min((i+1)*topics.ModelChunkSize, len(artefact))])
	}
	l.add(version, signedManifestOf(version, artefact, key))
}

// TestModelFollowerVerifiesSignatures feeds a follower with a verify key
// topics without Kafka: it serves the models the key signed and refuses
// (bad_signature, with a log line) the unsigned ones, the forged ones and
// those another key signed, at start and live, while the model serving
// keeps serving; a manifest refused so costs no chunk read or held at
// start. Without a key, every model that checks out serves.
func TestModelFollowerVerifiesSignatures(t *testing.T) {
	artefact := testArtefact(t)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	big := noise(2*topics.ModelChunkSize, 9) // what a forger's chunks would cost to hold

	for _, tc := range []followCase{
		{
			name: "a signed model serves",
			key:  pub,
			log:  func(l *modelLog) { l.publishSigned("m-1", artefact, key) },
			end:  -1, serving: "m-1", rollouts: 1, maxHeld: int64(len(artefact)),
		},
		{
			name: "a start refuses the unsigned, forged and foreign models and serves the newest signed",
			key:  pub,
			log: func(l *modelLog) {
				l.publishSigned("m-1", artefact, key)
				l.publish("m-2", big)
				l.add(topics.ChunkKey("m-3", 0), big[:topics.ModelChunkSize])
				l.add(topics.ChunkKey("m-3", 1), big[topics.ModelChunkSize:])
				l.add("m-3", forgedManifestOf("m-3", big, artefact, key))
				l.publishSigned("m-4", big, other)
			},
			end: -1, serving: "m-1", rollouts: 1, rejected: map[string]float64{"bad_signature": 3},
			maxHeld: int64(len(artefact)), // the refused models' chunks are never read
		},
		{
			name: "live, the unsigned, forged and foreign models are refused, then a signed one serves",
			key:  pub,
			log: func(l *modelLog) {
				l.publishSigned("m-1", artefact, key)
				l.publish("m-2", artefact)
				l.add(topics.ChunkKey("m-3", 0), artefact)
				l.add("m-3", forgedManifestOf("m-3", artefact, noise(len(artefact), 3), key))
				l.publishSigned("m-4", artefact, other)
				l.publishSigned("m-5", artefact, key)
			},
			end: 2, serving: "m-5", rollouts: 2, rejected: map[string]float64{"bad_signature": 3}, maxHeld: int64(len(artefact)),
		},
		{
			name: "a signed model with corrupt chunks is still refused",
			key:  pub,
			log: func(l *modelLog) {
				l.publishSigned("m-1", artefact, key)
				flipped := bytes.Clone(artefact)
				flipped[100] ^= 1
				l.add(topics.ChunkKey("m-2", 0), flipped)
				l.add("m-2", signedManifestOf("m-2", artefact, key))
			},
			end: 2, serving: "m-1", rollouts: 1, rejected: map[string]float64{"corrupt_chunks": 1}, maxHeld: int64(len(artefact)),
		},
		{
			name: "without a key, signed and unsigned models serve",
			log: func(l *modelLog) {
				l.publishSigned("m-1", artefact, key)
				l.publish("m-2", artefact)
			},
			end: 2, serving: "m-2", rollouts: 2, maxHeld: int64(len(artefact)),
		},
	} {
		t.Run(tc.name, tc.run)
	}
}

// TestSignedModelRollout: an instance with a verify key, on kfake and the
// real broker, serves a model published signed with its key and refuses
// (bad_signature) one published unsigned, one whose signed manifest was
// altered and one another key signed, while the signed model keeps
// serving; a restart refuses them again and serves the newest signed one.
func TestSignedModelRollout(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testSignedModelRollout(t, brokers) })
	}
}

func testSignedModelRollout(t *testing.T, brokers []string) {
	names, _, _, _, _ := shopOnTopics(t, brokers)
	artefact := testArtefact(t)
	_, key, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	_, other, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)

	dir := t.TempDir()
	start := func() (*Processor, *prometheus.Registry, func()) {
		in := startInstance(t, brokers, names, dir, Config{ModelVerifyKey: key.Public().(ed25519.PublicKey),
			Engine: EngineConfig{Knobs: Knobs{K: 5}}}, nil)
		return in.p, in.reg, in.stop
	}
	p, reg, stop := start()
	serving := func() string {
		if e := p.Engine(); e != nil {
			return e.Version()
		}
		return ""
	}
	badSignatures := func() float64 { return counterValues(t, reg, "sessionrec_model_rejected_total")["bad_signature"] }

	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-a", artefact, key)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return serving() == "model-a" }, 30*time.Second, 20*time.Millisecond)

	// Unsigned.
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-unsigned", artefact, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return badSignatures() == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-a", serving())

	// A signed manifest altered to name other bytes (a valid model: only
	// the signature stops it).
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Models), BatchTimeout: time.Millisecond,
		RequiredAcks: kafka.RequireAll, BatchBytes: 2 * topics.ModelChunkSize}
	defer func() { require.NoError(t, w.Close()) }()
	require.Less(t, len(artefact), topics.ModelChunkSize, "the test model is one chunk")
	require.NoError(t, w.WriteMessages(t.Context(),
		kafka.Message{Key: []byte(topics.ChunkKey("model-forged", 0)), Value: artefact},
		kafka.Message{Key: []byte("model-forged"), Value: forgedManifestOf("model-forged", artefact, noise(len(artefact), 5), key)}))
	require.Eventually(t, func() bool { return badSignatures() == 2 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-a", serving())

	// Signed by another key.
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-other", artefact, other)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return badSignatures() == 3 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-a", serving(), "the signed model keeps serving")

	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-b", artefact, key)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return serving() == "model-b" }, 30*time.Second, 20*time.Millisecond)
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-unsigned-2", artefact, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return badSignatures() == 4 }, 30*time.Second, 20*time.Millisecond)
	stop()

	// A restart serves model-b, the newest signed, and refuses the four
	// others again (their manifests, read first; not their chunks).
	p, reg, stop = start()
	defer stop()
	require.Equal(t, "model-b", serving())
	require.Equal(t, map[string]float64{"bad_signature": 4}, counterValues(t, reg, "sessionrec_model_rejected_total"),
		"refused at the restart, by reason")
}
