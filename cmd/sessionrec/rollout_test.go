package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestRetrainAndRollOut is the retraining loop end to end, on kfake and
// the real broker: a catalogue and sessions on the topics, a processor
// serving a first model and verifying models with the public key of
// `sessionrec keygen`, `sessionrec train --publish --sign-key` from the
// topics, the processor switching to the new version without a restart and
// publishing records that carry it; then a corrupted model on the topic
// (signed), a model published unsigned by `train --publish` and one whose
// signed manifest was altered are refused while the new one keeps serving.
func TestRetrainAndRollOut(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) { testRetrainAndRollOut(t, brokers) })
	}
}

func testRetrainAndRollOut(t *testing.T, brokers []string) {
	names := testTopics(t, brokers)
	prod := topics.NewProducer(brokers, names)
	defer func() { require.NoError(t, prod.Close()) }()
	shop := synth.NewShop(1)
	items := shopCatalogue(shop)
	require.NoError(t, prod.SendItems(t.Context(), items...))
	produceSessions(t, prod, shop.Sessions(1, synth.SessionConfig{Users: 100, Sessions: 600, Start: time.Now().Add(-72 * time.Hour)}))

	// The first model, trained from the topics into a file, served by
	// `run --model` style: SetModel before Run.
	dir := t.TempDir()
	privateKey, publicKey := filepath.Join(dir, "models.key"), filepath.Join(dir, "models.pub")
	var keyOut, keyErr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keygen", "--out-private", privateKey, "--out-public", publicKey}, &keyOut, &keyErr), keyErr.String())
	signKey, err := readSigningKey(privateKey)
	require.NoError(t, err)
	verifyKey, err := readVerifyKey(publicKey)
	require.NoError(t, err)
	train := func(version string, flags ...string) string {
		args := append([]string{"train", "--brokers", brokers[0], "--since", "0", "--epochs", "3", "--workers", "1",
			"--out", filepath.Join(dir, version+".bin"), "--version", version}, topicFlagsOf(names)...)
		var out, errOut bytes.Buffer
		require.NoError(t, run(t.Context(), append(args, flags...), &out, &errOut), errOut.String())
		return out.String()
	}
	train("model-1")
	m1, err := readModel(filepath.Join(dir, "model-1.bin"))
	require.NoError(t, err)
	m1.Info.Version = "model-1"

	db, err := store.Open(filepath.Join(dir, "state"), store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	reg := prometheus.NewRegistry()
	p, err := processor.New(processor.Config{Brokers: brokers, Group: "g" + string(names.Clicks), Names: names,
		SessionTimeout: 6 * time.Second, IdleAdvance: -1, Metrics: processor.NewMetrics(reg), Logger: slog.New(slog.DiscardHandler),
		Engine: processor.EngineConfig{Knobs: processor.Knobs{K: 5}}, ModelVerifyKey: verifyKey}, db)
	require.NoError(t, err)
	require.NoError(t, p.SetModel(m1))
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-runErr)
	}()
	require.Eventually(t, p.Ready, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-1", p.Engine().Version())
	srv := httptest.NewServer(p.Handler(reg))
	defer srv.Close()

	// A live click gets a record of the serving model.
	click := func(user string) string {
		require.NoError(t, prod.Send(t.Context(), topics.Event{Kind: topics.KindClick, UserID: user,
			ItemID: shop.Items[shop.ByTopic[2][0]].ID, Time: time.Now().Truncate(time.Millisecond)}))
		return recordOf(t, brokers, names.Recommendations, user).ModelVersion
	}
	require.Equal(t, "model-1", click("live-1"))

	// Retrain from the topics and publish, signed: the processor switches.
	require.Contains(t, train("model-2", "--publish", "--sign-key", privateKey), "signed by key "+topics.ModelKeyID(verifyKey))
	require.Eventually(t, func() bool { return p.Engine().Version() == "model-2" }, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-2", click("live-2"), "records after the swap carry the new version")
	metrics := func() string {
		resp, err := http.Get(srv.URL + "/metrics")
		require.NoError(t, err)
		defer func() { require.NoError(t, resp.Body.Close()) }()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}
	require.Contains(t, metrics(), `sessionrec_model_info{version="model-2"} 1`)

	// A corrupted model on the topic, signed: refused, model-2 keeps
	// serving.
	art, err := os.ReadFile(filepath.Join(dir, "model-2.bin"))
	require.NoError(t, err)
	sum := sha256.Sum256(art)
	signed := topics.ModelManifest{Version: "model-3", Size: int64(len(art)), SHA256: hex.EncodeToString(sum[:]),
		Chunks: (len(art) + topics.ModelChunkSize - 1) / topics.ModelChunkSize}
	require.NoError(t, signed.Sign(signKey))
	manifest, err := json.Marshal(signed)
	require.NoError(t, err)
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Models),
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 2 * topics.ModelChunkSize}
	defer func() { require.NoError(t, w.Close()) }()
	var msgs []kafka.Message
	for i := 0; i*topics.ModelChunkSize < len(art); i++ {
		chunk := bytes.Clone(art[i*topics.ModelChunkSize : min((i+1)*topics.ModelChunkSize, len(art))])
		if i == 0 {
			chunk[len(chunk)/2] ^= 0x40
		}
		msgs = append(msgs, kafka.Message{Key: []byte(topics.ChunkKey("model-3", i)), Value: chunk})
	}
	msgs = append(msgs, kafka.Message{Key: []byte("model-3"), Value: manifest})
	require.NoError(t, w.WriteMessages(t.Context(), msgs...))
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`sessionrec_model_rejected_total\{reason="corrupt_chunks"\} 1`).MatchString(metrics())
	}, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-2", p.Engine().Version())
	require.Equal(t, "model-2", click("live-3"), "the old model keeps serving")

	// A model published without --sign-key, then model-1's artefact
	// (a valid model) under a manifest signed for model-2's: both refused
	// as bad_signature, model-2 keeps serving.
	require.Contains(t, train("model-4", "--publish"), "unsigned")
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`sessionrec_model_rejected_total\{reason="bad_signature"\} 1`).MatchString(metrics())
	}, 60*time.Second, 20*time.Millisecond)
	art1, err := os.ReadFile(filepath.Join(dir, "model-1.bin"))
	require.NoError(t, err)
	forged := signed
	forged.Version = "model-5"
	require.NoError(t, forged.Sign(signKey))
	sum1 := sha256.Sum256(art1)
	forged.Size, forged.SHA256 = int64(len(art1)), hex.EncodeToString(sum1[:])
	forged.Chunks = (len(art1) + topics.ModelChunkSize - 1) / topics.ModelChunkSize
	manifest, err = json.Marshal(forged)
	require.NoError(t, err)
	msgs = msgs[:0]
	for i := 0; i*topics.ModelChunkSize < len(art1); i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(topics.ChunkKey("model-5", i)),
			Value: art1[i*topics.ModelChunkSize : min((i+1)*topics.ModelChunkSize, len(art1))]})
	}
	require.NoError(t, w.WriteMessages(t.Context(), append(msgs, kafka.Message{Key: []byte("model-5"), Value: manifest})...))
	require.Eventually(t, func() bool {
		return regexp.MustCompile(`sessionrec_model_rejected_total\{reason="bad_signature"\} 2`).MatchString(metrics())
	}, 60*time.Second, 20*time.Millisecond)
	require.Equal(t, "model-2", p.Engine().Version())
	require.Equal(t, "model-2", click("live-4"), "the signed model keeps serving")
}

// recordOf reads the recommendations topic until a record of user shows up.
func recordOf(t *testing.T, brokers []string, topic topics.Topic, user string) topics.Recommendation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	found := make(chan topics.Recommendation, 2)
	for part := range 2 {
		go func() {
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topic), Partition: part, MaxWait: 500 * time.Millisecond})
			defer func() { _ = r.Close() }() // a test reader: nothing to keep
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					return
				}
				if string(m.Key) == user {
					rec, err := topics.DecodeRecommendation(m.Value)
					if err == nil {
						found <- rec
						return
					}
				}
			}
		}()
	}
	select {
	case rec := <-found:
		return rec
	case <-ctx.Done():
		t.Fatalf("no record of %s on %s", user, topic)
		return topics.Recommendation{}
	}
}
