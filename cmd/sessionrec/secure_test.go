package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// secureEnv is the secured test broker (make test starts its SASL_SSL
// listener: deploy/kafka/kafka.sh with SESSIONREC_KAFKA_SECURE_PORT): its
// address, and the flags and Security that reach it with TLS and
// SCRAM-SHA-512.
func secureEnv(t testing.TB) (brokers []string, flags []string, sec *topics.Security) {
	t.Helper()
	addr := os.Getenv("SESSIONREC_SECURE_BROKERS")
	require.NotEmpty(t, addr, "SESSIONREC_SECURE_BROKERS is not set: this test needs the secured broker (make test starts one)")
	ca, user, pwFile := os.Getenv("SESSIONREC_KAFKA_TLS_CA"), os.Getenv("SESSIONREC_KAFKA_SASL_USER"), os.Getenv("SESSIONREC_KAFKA_SASL_PASSWORD_FILE")
	flags = []string{"--tls-ca", ca, "--sasl-mechanism", topics.SASLScramSHA512, "--sasl-user", user, "--sasl-password-file", pwFile}
	pw, err := os.ReadFile(pwFile)
	require.NoError(t, err)
	sec, err = topics.SecurityConfig{CAFile: ca, SASLMechanism: topics.SASLScramSHA512, SASLUser: user, SASLPassword: strings.TrimSpace(string(pw))}.Build()
	require.NoError(t, err)
	return brokerList(addr), flags, sec
}

// TestSecuredCluster runs the commands over TLS with SCRAM-SHA-512 against
// the secured broker: topics create, produce (the diginetica sample), train
// by replay with --publish, and run, which takes the published model from
// the models topic. Every event the model knows is then applied exactly
// once, as in-process sessionizing of the same events says, and every user
// has a recommendation record.
func TestSecuredCluster(t *testing.T) {
	brokers, secFlags, sec := secureEnv(t)
	bin := buildBinary(t)
	sfx := fmt.Sprintf("-secure-%d", rand.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	group := "sessionrec" + sfx
	common := append([]string{"--brokers", strings.Join(brokers, ",")}, secFlags...)
	allTopics := append(topicFlagsOf(names), "--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures))
	cmd := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		require.NoError(t, run(t.Context(), args, &out, &errOut), "%v: %s", args, errOut.String())
		return out.String()
	}
	cmd(append(append([]string{"topics", "create", "--partitions", "3", "--group", group}, common...), allTopics...)...)
	d, err := dataset.Load(dataDirForTest(t), dataset.Diginetica)
	require.NoError(t, err)
	events := datasetEvents(d, false)
	cmd(append(append([]string{"produce", "--dataset", "diginetica", "--data", dataDirForTest(t), "--no-event-ids"}, common...), allTopics...)...)

	modelPath := filepath.Join(t.TempDir(), "model.bin")
	cmd(append(append([]string{"train", "--since", "0", "--keep-all", "--epochs", "1", "--workers", "1", "--publish", "--out", modelPath}, common...), topicFlagsOf(names)...)...)
	m, err := readModel(modelPath)
	require.NoError(t, err)
	known := map[string]bool{}
	for _, it := range m.IDItems() {
		known[it.ID] = true
	}

	api := freePort(t)
	inst := &faultInstance{t: t, bin: bin, logs: &lockedLogs{}, api: api, ops: api, args: append(append([]string{"run",
		"--group", group, "--data-dir", filepath.Join(t.TempDir(), "data"), "--http", api, "--idle-advance", "-1s",
		"--session-timeout", "6s"}, common...), allTopics...)}
	inst.start()
	inst.ready(2 * time.Minute)
	require.Contains(t, inst.logs.String(), "kafka_security=\"SASL_SSL (SCRAM-SHA-512)\"")
	adm, err := topics.NewAdmin(brokers, topics.WithSecurity(sec))
	require.NoError(t, err)
	defer adm.Close()
	inst.caughtUp(adm, group, names, 3*time.Minute)
	// The model came from the models topic, over TLS.
	code, body := httpGet(api, "/v1/items/"+m.IDItems()[0].ID+"/similar?k=3", 5*time.Second)
	require.Equal(t, http.StatusOK, code, body)
	inst.stop()

	db, err := store.Open(inst.dataDir(), store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	var applicable []topics.Event
	for _, e := range events {
		if known[e.ItemID] {
			applicable = append(applicable, e)
		}
	}
	want := referenceState(applicable, 3)
	got := map[string]*store.UserState{}
	for p := range int32(3) {
		require.NoError(t, db.Users(p, func(id string, s *store.UserState) bool {
			got[id] = s
			return true
		}))
	}
	require.Equal(t, len(want), len(got), "users")
	for id, w := range want {
		g, ok := got[id]
		require.True(t, ok, "user %s missing", id)
		require.Equal(t, w.Applied, g.Applied, "user %s: events applied", id)
	}
	recs := map[string]bool{}
	ends, err := adm.EndOffsets(t.Context(), names.Recommendations)
	require.NoError(t, err)
	for part, end := range ends {
		r := topics.ReplayRange{Topic: names.Recommendations, Partition: part, From: 0, To: end}
		require.NoError(t, topics.ReadRange(t.Context(), brokers, r, func(m kafka.Message) error {
			recs[string(m.Key)] = true
			return nil
		}, topics.WithSecurity(sec)))
	}
	for id := range want {
		require.True(t, recs[id], "user %s has no recommendation record", id)
	}
}
