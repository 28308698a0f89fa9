package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/topics"
)

// The train-from-topics tests run against an in-process kfake broker and,
// when SESSIONREC_BROKERS is set (make test sets it), against that real
// Kafka too, each on topics of its own.

// testClusters returns the clusters to run against, by name.
func testClusters(t *testing.T) map[string][]string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	out := map[string][]string{"kfake": c.ListenAddrs()}
	if b := os.Getenv("SESSIONREC_BROKERS"); b != "" {
		out["real"] = brokerList(b)
	}
	return out
}

// testTopics creates topics of the test's own (2 partitions for the
// events) and returns their names.
func testTopics(t *testing.T, brokers []string) topics.Names {
	t.Helper()
	sfx := fmt.Sprintf("-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: 2}))
	return names
}

// topicFlagsOf returns the command-line flags naming the topics.
func topicFlagsOf(names topics.Names) []string {
	return []string{"--clicks-topic", string(names.Clicks), "--purchases-topic", string(names.Purchases),
		"--items-topic", string(names.Items), "--models-topic", string(names.Models)}
}

// produceSessions writes the sessions' events in event-time order, as a
// shop does, with the record timestamps at the event times.
func produceSessions(t *testing.T, prod *topics.Producer, sessions [][]synth.Event) {
	t.Helper()
	var evs []topics.Event
	for _, e := range synth.Stream(sessions) {
		ev := topics.Event{Kind: topics.KindClick, UserID: e.UserID, ItemID: e.ItemID, Time: e.Time}
		if e.Purchase {
			ev.Kind, ev.Quantity = topics.KindPurchase, 1
		}
		evs = append(evs, ev)
	}
	n, err := topics.Replay(t.Context(), prod, evs, topics.ReplayConfig{})
	require.NoError(t, err)
	require.Equal(t, len(evs), n)
}

// expectation is what training on generated sessions must report, worked
// out from the generator's sessions alone: a generated session is one
// session to the sessionizer (its events are at most 2 minutes apart, a
// user's sessions at least an hour), and it is kept when it has a
// purchase (every generated session has 2 to 10 events).
type expectation struct {
	events, sessions, kept int
	trained                map[string]bool // items of the kept sessions
	from, to               time.Time
}

func expect(sets ...[][]synth.Event) expectation {
	x := expectation{trained: map[string]bool{}}
	for _, set := range sets {
		for _, s := range set {
			x.sessions++
			x.events += len(s)
			if x.from.IsZero() || s[0].Time.Before(x.from) {
				x.from = s[0].Time
			}
			if last := s[len(s)-1].Time; last.After(x.to) {
				x.to = last
			}
			if !slices.ContainsFunc(s, func(e synth.Event) bool { return e.Purchase }) {
				continue
			}
			x.kept++
			for _, e := range s {
				x.trained[e.ItemID] = true
			}
		}
	}
	return x
}

func TestTrainFromTopics(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) { testTrainFromTopics(t, brokers) })
	}
}

func testTrainFromTopics(t *testing.T, brokers []string) {
	names := testTopics(t, brokers)
	prod := topics.NewProducer(brokers, names)
	defer func() { require.NoError(t, prod.Close()) }()

	// The catalogue, less one withdrawn item, and a record that is no item.
	shop := synth.NewShop(1)
	items := shopCatalogue(shop)
	require.NoError(t, prod.SendItems(t.Context(), items...))
	withdrawn := shop.Items[0].ID
	require.NoError(t, prod.WithdrawItems(t.Context(), withdrawn))
	raw := &kafka.Writer{Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{}, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer func() { require.NoError(t, raw.Close()) }()
	require.NoError(t, raw.WriteMessages(t.Context(), kafka.Message{Topic: string(names.Items), Key: []byte("x"), Value: []byte(`{"item_id":"x","colour":"red"}`)}))

	// Two sets of sessions, three days and one day ago, well inside the
	// default retention of a real broker (7 days) and --since 720h.
	now := time.Now().UTC().Truncate(time.Second)
	first := shop.Sessions(2, synth.SessionConfig{Users: 20, Sessions: 120, Start: now.Add(-72 * time.Hour)})
	second := shop.Sessions(3, synth.SessionConfig{Users: 20, Sessions: 80, Start: now.Add(-24 * time.Hour)})
	produceSessions(t, prod, first)
	produceSessions(t, prod, second)
	// Three bad clicks, written last: malformed JSON, an event whose user
	// is not the record key (both stamped now), and a late event, stamped
	// in the first set's time, hours before the watermark.
	good, err := topics.Event{Kind: topics.KindClick, UserID: "user-0002", ItemID: shop.Items[5].ID, Time: now}.Encode()
	require.NoError(t, err)
	lateAt := now.Add(-60 * time.Hour)
	late, err := topics.Event{Kind: topics.KindClick, UserID: "user-0004", ItemID: shop.Items[5].ID, Time: lateAt}.Encode()
	require.NoError(t, err)
	require.NoError(t, raw.WriteMessages(t.Context(),
		kafka.Message{Topic: string(names.Clicks), Key: []byte("user-0001"), Value: []byte("{not json"), Time: now},
		kafka.Message{Topic: string(names.Clicks), Key: []byte("user-0003"), Value: good, Time: now},
		kafka.Message{Topic: string(names.Clicks), Key: []byte("user-0004"), Value: late, Time: lateAt}))

	// Three models published before: with --keep-models 2, the publish
	// withdraws the two oldest.
	for _, v := range []string{"old-1", "old-2", "old-3"} {
		_, err := topics.PublishModel(t.Context(), brokers, names.Models, v, []byte("an older artefact "+v), nil)
		require.NoError(t, err)
	}

	// Everything since 720h ago, published.
	all := expect(first, second)
	require.Positive(t, all.kept)
	require.Less(t, all.kept, all.sessions, "some sessions have no purchase")
	path := filepath.Join(t.TempDir(), "model.bin")
	var out, errOut bytes.Buffer
	// --keep-all=false: only the sessions with a purchase train (the
	// default keeps them all, purchases weighted up).
	args := append([]string{"train", "--brokers", strings.Join(brokers, ","), "--since", "720h", "--out", path,
		"--publish", "--keep-models", "2", "--workers", "1", "--epochs", "3", "--keep-all=false"}, topicFlagsOf(names)...)
	require.NoError(t, run(t.Context(), args, &out, &errOut), "stdout %s\nstderr %s", out.String(), errOut.String())
	t.Logf("stdout:\n%sstderr:\n%s", out.String(), errOut.String())
	artefact, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := model.Read(bytes.NewReader(artefact))
	require.NoError(t, err)
	require.Equal(t, all.sessions, m.Info.Sessions, "every generated session is one closed session")
	require.Equal(t, all.kept, m.Info.KeptSessions, "the sessions with a purchase are kept")
	require.Equal(t, len(all.trained), m.Info.TrainedItems, "the items of the kept sessions are trained")
	wantItems := len(shop.Items) - 1 // the catalogue less the withdrawn item ...
	if slices.ContainsFunc(synth.Stream(slices.Concat(first, second)), func(e synth.Event) bool { return e.ItemID == withdrawn }) {
		wantItems++ // ... which the events still name: an id-only item
	}
	require.Equal(t, wantItems, m.Info.Items)
	require.Equal(t, all.from, m.Info.From)
	require.Equal(t, all.to, m.Info.To)
	require.Equal(t, 3, m.Info.Epochs)
	require.Equal(t, model.DefaultDims(), m.Dims, "a catalogue with names, categories, brands and prices keeps every part")
	require.Contains(t, out.String(), fmt.Sprintf("model %s: %d of %d sessions kept", m.Info.Version, all.kept, all.sessions))
	require.Contains(t, out.String(), fmt.Sprintf("%d in the catalogue", len(shop.Items)-1))
	require.Contains(t, out.String(), fmt.Sprintf("%d events read from 2 partitions, %d applied, 0 duplicates, skipped: invalid_field 1, late 1, malformed 1;",
		all.events+3, all.events))
	require.Contains(t, out.String(), fmt.Sprintf("%d items records, skipped: unknown_field 1;", len(shop.Items)+2))
	require.Contains(t, errOut.String(), fmt.Sprintf("read %d records in", all.events+3+len(shop.Items)+2), "the read progress ends with the total")
	require.Contains(t, errOut.String(), "epoch 3/3", "the training progress")

	// The models topic holds the artefact: chunks, then the manifest.
	man, got := readModelTopic(t, brokers, names.Models, m.Info.Version)
	require.Equal(t, artefact, got)
	require.Contains(t, out.String(), fmt.Sprintf("published model %s to %s: %d chunks, %d bytes", m.Info.Version, names.Models, man.Chunks, len(artefact)))
	require.Contains(t, out.String(), fmt.Sprintf("withdrew 2 older models from %s (--keep-models 2): old-1, old-2\n", names.Models))
	live := map[string]bool{} // key -> holds a value (false: a tombstone)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	ranges, err := adm.ReplayRanges(t.Context(), names.Models, time.Time{}, time.Time{})
	require.NoError(t, err)
	for _, r := range ranges {
		require.NoError(t, topics.ReadRange(t.Context(), brokers, r, func(msg kafka.Message) error {
			live[string(msg.Key)] = msg.Value != nil
			return nil
		}))
	}
	for key, want := range map[string]bool{"old-1": false, "old-1/0": false, "old-2": false, "old-2/0": false, "old-3": true, "old-3/0": true,
		m.Info.Version: true, topics.ChunkKey(m.Info.Version, 0): true} {
		require.Equal(t, want, live[key], "key %s holds a value", key)
	}

	// --from and --until select the first set only: the second, and the
	// bad records written after it, are past the first record stamped at
	// or after --until.
	firstOnly := expect(first)
	path2 := filepath.Join(t.TempDir(), "first.bin")
	out.Reset()
	args = append([]string{"train", "--brokers", strings.Join(brokers, ","), "--from", firstOnly.from.Add(-time.Hour).Format(time.RFC3339),
		"--until", now.Add(-48 * time.Hour).Format(time.RFC3339), "--out", path2, "--workers", "1", "--epochs", "3", "--version", "first-set", "--keep-all=false"},
		topicFlagsOf(names)...)
	require.NoError(t, run(t.Context(), args, &out, &errOut), "stdout %s\nstderr %s", out.String(), errOut.String())
	m2, err := readModel(path2)
	require.NoError(t, err)
	require.Equal(t, "first-set", m2.Info.Version)
	require.Equal(t, firstOnly.sessions, m2.Info.Sessions)
	require.Equal(t, firstOnly.kept, m2.Info.KeptSessions)
	require.Equal(t, firstOnly.to, m2.Info.To)
	require.Contains(t, out.String(), fmt.Sprintf("%d events read from 2 partitions, %d applied, 0 duplicates, skipped: none;", firstOnly.events, firstOnly.events))
}

// readModelTopic reads the models topic until the manifest of version and
// returns it with the artefact its chunks assemble to.
func readModelTopic(t *testing.T, brokers []string, topic topics.Topic, version string) (topics.ModelManifest, []byte) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(topic), Partition: 0, MaxWait: 500 * time.Millisecond})
	defer func() { require.NoError(t, r.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	chunks := map[int][]byte{}
	for {
		msg, err := r.ReadMessage(ctx)
		require.NoError(t, err)
		v, i, err := topics.ParseModelKey(string(msg.Key))
		require.NoError(t, err)
		if v != version {
			continue
		}
		if i >= 0 {
			chunks[i] = msg.Value
			continue
		}
		man, err := topics.DecodeModelManifest(string(msg.Key), msg.Value, topics.DefaultMaxModelBytes)
		require.NoError(t, err)
		b, err := man.Assemble(chunks)
		require.NoError(t, err)
		return man, b
	}
}

// TestReplayReadsOnlyWhatWasThere checks that a replay reads up to the end
// offsets of the moment it starts: records written once the ranges are
// fixed, even stamped inside them, are not read.
func TestReplayReadsOnlyWhatWasThere(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) {
			names := testTopics(t, brokers)
			prod := topics.NewProducer(brokers, names)
			defer func() { require.NoError(t, prod.Close()) }()
			shop := synth.NewShop(1)
			now := time.Now().UTC().Truncate(time.Second)
			before := shop.Sessions(4, synth.SessionConfig{Users: 10, Sessions: 30, Start: now.Add(-30 * time.Hour)})
			during := shop.Sessions(5, synth.SessionConfig{Users: 10, Sessions: 20, Start: now.Add(-20 * time.Hour)})
			produceSessions(t, prod, before)
			cfg := processor.ReplayConfig{Brokers: brokers, Names: names, From: now.Add(-48 * time.Hour), Now: now,
				Sessions: processor.Sessionizer{}}
			var total int64
			cfg.Started = func(n int64) func() {
				total = n
				produceSessions(t, prod, during) // not read: written after the ranges were fixed
				return func() {}
			}
			c, items, st, err := processor.ReplayCorpus(t.Context(), cfg)
			require.NoError(t, err)
			x := expect(before)
			require.Equal(t, int64(x.events), total)
			require.Equal(t, int64(x.events), st.Events)
			require.Len(t, c.Sessions, x.sessions)
			for _, it := range c.Items {
				require.Equal(t, model.Item{ID: it.ID}, it, "no catalogue: id-only items")
				require.Contains(t, items, it.ID)
			}

			// A second replay reads both.
			cfg.Started = nil
			c, _, st, err = processor.ReplayCorpus(t.Context(), cfg)
			require.NoError(t, err)
			both := expect(before, during)
			require.Equal(t, int64(both.events), st.Events)
			require.Len(t, c.Sessions, both.sessions)
		})
	}
}

// TestTrainFromTopicsErrors checks the errors a replay gives: missing
// topics and a range with nothing to train on are clear errors, and flags
// of the other source are refused.
func TestTrainFromTopicsErrors(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) {
			addr := strings.Join(brokers, ",")
			var out, errOut bytes.Buffer
			sfx := fmt.Sprintf("-missing-%d", rand.Uint32())
			missing := topicFlagsOf(topics.DefaultNames().WithSuffix(sfx))
			err := run(t.Context(), append([]string{"train", "--brokers", addr, "--out", filepath.Join(t.TempDir(), "m.bin")}, missing...), &out, &errOut)
			require.ErrorIs(t, err, topics.ErrMissingTopic)
			require.ErrorContains(t, err, "clicks"+sfx)

			names := testTopics(t, brokers)
			err = run(t.Context(), append([]string{"train", "--brokers", addr, "--out", filepath.Join(t.TempDir(), "m.bin")}, topicFlagsOf(names)...), &out, &errOut)
			require.ErrorIs(t, err, model.ErrNoSessions)
			require.ErrorContains(t, err, "0 records read")
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"both sources", []string{"train", "--dataset", "yoochoose", "--brokers", "b:9092"}, "", "not both"},
		{"replay flag with a dataset", []string{"train", "--dataset", "yoochoose", "--since", "1h"}, "", "--since is for training from the topics"},
		{"since and from", []string{"train", "--brokers", "b:9092", "--since", "1h", "--from", "2026-01-01"}, "", "--since or --from"},
		{"until before from", []string{"train", "--brokers", "b:9092", "--from", "2026-01-02", "--until", "2026-01-01"}, "", "is not after"},
		{"bad time", []string{"train", "--brokers", "b:9092", "--from", "yesterday"}, "", "not a time"},
		{"keep-models without publish", []string{"train", "--brokers", "b:9092", "--keep-models", "2"}, "", "--keep-models is for --publish"},
		{"negative keep-models", []string{"train", "--brokers", "b:9092", "--publish", "--keep-models", "-1"}, "", "want a count >= 0"},
		{"env brokers, command-line dataset", []string{"train", "--dataset", "nope"}, "b:9092", `"nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv("SESSIONREC_BROKERS", tc.env)
				t.Setenv("SESSIONREC_DATA", ".") // the data directory does not choose a dataset
			}
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, &out, &errOut)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
