package processor

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

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
	m, err := testModel()
	require.NoError(t, err)
	var buf bytes.Buffer
	_, err = m.WriteTo(&buf)
	require.NoError(t, err)
	artefact := buf.Bytes()

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
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-a", artefact)
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
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-b", artefact)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return serving() == "model-b" }, 30*time.Second, 20*time.Millisecond)
	click("u-b", 2)
	require.Equal(t, "model-b", recordVersion("u-b"))

	// A model of an artefact format this build does not read is refused as
	// incompatible (its chunks and checksum are fine).
	future := bytes.Clone(artefact)
	future[8], future[9] = 0xff, 0x00 // the format version, after the 8-byte magic
	_, err = topics.PublishModel(t.Context(), brokers, names.Models, "model-future", future)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return rejected("incompatible") == 1 }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-b", serving())
	stop()

	// A restart serves the newest model on the topic that verifies:
	// model-future is refused again, model-b serves.
	p, _, stop = start()
	defer stop()
	require.Equal(t, "model-b", serving())
}
