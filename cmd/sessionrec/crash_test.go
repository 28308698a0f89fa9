package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/processor"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

const crashPartitions = 3

// TestCrashExactlyOnce runs `sessionrec run` as a subprocess over a fixed
// stream of real events (the diginetica sample: views and purchases), kills
// it with SIGKILL at random points, restarts it, lets it finish, stops it
// with SIGTERM and compares every user's stored state with the state the
// sessionizer computes from the same stream in-process: no event lost, none
// applied twice. Events carry no event_id, so a double application could not
// hide behind duplicate detection.
func TestCrashExactlyOnce(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	clusters := map[string][]string{"kfake": c.ListenAddrs()}
	if b := os.Getenv("SESSIONREC_BROKERS"); b != "" {
		clusters["real"] = brokerList(b)
	}
	bin := buildBinary(t)
	d, err := dataset.Load(dataDirForTest(t), dataset.Diginetica)
	require.NoError(t, err)
	events := datasetEvents(d, false)
	// A model, so that the instance publishes as it goes and a kill can
	// land between a batch's publish and its store commit. Events of
	// items it does not know are dead letters, and left out of the
	// reference.
	modelPath, known := trainTestModel(t)
	for name, brokers := range clusters {
		t.Run(name, func(t *testing.T) { testCrash(t, bin, brokers, events, modelPath, known) })
	}
}

func testCrash(t *testing.T, bin string, brokers []string, events []topics.Event, modelPath string, known map[string]bool) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("seed %d, %d events", seed, len(events))
	sfx := fmt.Sprintf("-crash-%d", rng.Uint32())
	names := topics.DefaultNames().WithSuffix(sfx)
	group := "sessionrec" + sfx
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: crashPartitions}))
	prod := topics.NewProducer(brokers, names)
	_, err = topics.Replay(t.Context(), prod, events, topics.ReplayConfig{})
	require.NoError(t, err)
	require.NoError(t, prod.Close())

	dataDir := t.TempDir()
	port := freePort(t)
	exited := map[*exec.Cmd]chan struct{}{}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--brokers", strings.Join(brokers, ","), "--group", group,
			"--data-dir", dataDir, "--http", port, "--idle-advance", "-1s", "--batch-size", "20", "--sync-commits",
			"--session-timeout", "6s", "--log-level", "debug", "--model", modelPath,
			"--clicks-topic", string(names.Clicks), "--purchases-topic", string(names.Purchases),
			"--items-topic", string(names.Items), "--models-topic", string(names.Models),
			"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures))
		cmd.Stderr = &bytes.Buffer{}
		require.NoError(t, cmd.Start())
		done := make(chan struct{})
		exited[cmd] = done
		go func() {
			_ = cmd.Wait() // the test looks at how it exited through done and ProcessState
			close(done)
		}()
		return cmd
	}
	// alive fails the test when the instance has exited by itself.
	alive := func(cmd *exec.Cmd) {
		t.Helper()
		select {
		case <-exited[cmd]:
			t.Fatalf("sessionrec run exited by itself (%v); stderr:\n%s", cmd.ProcessState, cmd.Stderr)
		default:
		}
	}
	lag := func() int64 {
		// The group may be rebalancing: ask again on an error.
		ls, err := adm.Lag(t.Context(), group, names.Clicks, names.Purchases)
		for try := 0; err != nil && try < 50; try++ {
			time.Sleep(100 * time.Millisecond)
			ls, err = adm.Lag(t.Context(), group, names.Clicks, names.Purchases)
		}
		require.NoError(t, err)
		// Count from the commits themselves: a partition without one is
		// unread in full (the topics start at offset 0).
		require.Len(t, ls, 2*crashPartitions, "every partition of both topics: %+v", ls)
		var n int64
		for _, l := range ls {
			n += l.End - max(l.Committed, 0)
		}
		return n
	}
	ready := func(cmd *exec.Cmd) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get("http://" + port + "/readyz")
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			alive(cmd)
			require.True(t, time.Now().Before(deadline), "not ready after a minute; stderr:\n%s", cmd.Stderr)
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Kill it at random points while it works through the stream: each
	// time once it has made progress since it started, a random moment
	// later.
	kills, midway := 0, 0
	for kills < 3 {
		before := lag()
		cmd := start()
		progressBy := time.Now().Add(90 * time.Second)
		for before > 0 && lag() >= before {
			alive(cmd)
			if time.Now().After(progressBy) {
				_ = cmd.Process.Kill()
				<-exited[cmd]
				t.Fatalf("restart %d made no progress in 90s (lag %d); stderr:\n%s", kills+1, before, cmd.Stderr)
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		alive(cmd)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-exited[cmd]
		kills++
		after := lag()
		if after > 0 {
			midway++
		}
		t.Logf("kill %d: lag %d -> %d", kills, before, after)
	}
	require.Positive(t, midway, "at least one kill must land while events remain")

	// Let it finish, then stop it with SIGTERM.
	cmd := start()
	ready(cmd)
	deadline := time.Now().Add(time.Minute)
	for lag() > 0 {
		alive(cmd)
		if time.Now().After(deadline) {
			// SIGQUIT: the Go runtime prints every goroutine's stack.
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			<-exited[cmd]
			t.Fatalf("lag %d after 2 minutes; stderr:\n%s", lag(), cmd.Stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopAt := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-exited[cmd]:
		require.True(t, cmd.ProcessState.Success(), "exit after SIGTERM: %v; stderr:\n%s", cmd.ProcessState, cmd.Stderr)
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited[cmd]
		t.Fatalf("no exit within 5s of SIGTERM; stderr:\n%s", cmd.Stderr)
	}
	t.Logf("%d kills (%d with events left); exit %v after SIGTERM", kills, midway, time.Since(stopAt).Round(time.Millisecond))

	// Compare with the reference.
	db, err := store.Open(dataDir, store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	var applicable []topics.Event
	for _, e := range events {
		if known[e.ItemID] {
			applicable = append(applicable, e)
		}
	}
	require.NotEmpty(t, applicable)
	want := referenceState(applicable, crashPartitions)
	got := map[string]*store.UserState{}
	for p := range int32(crashPartitions) {
		require.NoError(t, db.Users(p, func(id string, s *store.UserState) bool {
			got[id] = s
			return true
		}))
	}
	require.Len(t, got, len(want), "users")
	for id, w := range want {
		g, ok := got[id]
		require.True(t, ok, "user %s missing", id)
		require.Equal(t, w.Applied, g.Applied, "user %s: events applied", id)
		require.Equal(t, w.Sessions, g.Sessions, "user %s: sessions closed", id)
		require.Equal(t, sortedEvents(w.Events), sortedEvents(g.Events), "user %s: open events", id)
	}

	// Output is at least once: every user got a recommendation record,
	// however the kills fell.
	recs := map[string]bool{}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for part := range crashPartitions {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(names.Recommendations), Partition: part, MaxWait: 500 * time.Millisecond})
		ends, err := adm.EndOffsets(ctx, names.Recommendations)
		require.NoError(t, err)
		for off := int64(0); off < ends[int32(part)]; off++ {
			msg, err := r.ReadMessage(ctx)
			require.NoError(t, err)
			off = msg.Offset
			recs[string(msg.Key)] = true
		}
		require.NoError(t, r.Close())
	}
	for id := range want {
		require.True(t, recs[id], "user %s has no recommendation record", id)
	}
}

// buildBinary builds the sessionrec binary into a test directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessionrec")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "build the binary")
	return bin
}

// trainTestModel trains a model on the diginetica sample (one epoch) and
// returns its file and the items it knows.
func trainTestModel(t testing.TB) (string, map[string]bool) {
	t.Helper()
	modelPath := filepath.Join(t.TempDir(), "model.bin")
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"train", "--data", dataDirForTest(t), "--dataset", "diginetica",
		"--keep-all", "--epochs", "1", "--workers", "1", "--out", modelPath}, &out, &errOut), errOut.String())
	m, err := readModel(modelPath)
	require.NoError(t, err)
	known := map[string]bool{}
	for _, it := range m.IDItems() {
		known[it.ID] = true
	}
	return modelPath, known
}

// referenceState applies the stream as the processor must: per partition
// (murmur2 of the user id), in order, with the partition's watermark, and
// closing the sessions the final watermark ends.
func referenceState(events []topics.Event, partitions int) map[string]*store.UserState {
	z := processor.Sessionizer{}
	bal := &kafka.Murmur2Balancer{}
	parts := make([]int, partitions)
	for i := range parts {
		parts[i] = i
	}
	maxEvent := make([]int64, partitions)
	for i := range maxEvent {
		maxEvent[i] = -1 << 62
	}
	users := map[string]*store.UserState{}
	part := map[string]int{}
	for _, e := range events {
		p := bal.Balance(kafka.Message{Key: []byte(e.UserID)}, parts...)
		part[e.UserID] = p
		s := users[e.UserID]
		if s == nil {
			s = &store.UserState{}
			users[e.UserID] = s
		}
		kind := store.Click
		if e.Kind == topics.KindPurchase {
			kind = store.Purchase
		}
		// A session at its bound closes, then the event is placed.
		if _, o := z.Place(s, e.UserID, store.Event{ItemID: e.ItemID, TimeMs: e.Time.UnixMilli(), Kind: kind}, z.Watermark(maxEvent[p])); o == processor.Applied {
			maxEvent[p] = max(maxEvent[p], e.Time.UnixMilli())
		}
	}
	for id, s := range users {
		z.Expire(s, id, z.Watermark(maxEvent[part[id]]))
	}
	return users
}

func sortedEvents(evs []store.Event) []store.Event {
	if len(evs) == 0 {
		return nil
	}
	out := slices.Clone(evs)
	slices.SortFunc(out, func(a, b store.Event) int {
		if a.TimeMs != b.TimeMs {
			return int(a.TimeMs - b.TimeMs)
		}
		if a.ItemID != b.ItemID {
			return strings.Compare(a.ItemID, b.ItemID)
		}
		return int(a.Kind) - int(b.Kind)
	})
	return out
}

// freePort returns a loopback address with a port free at the moment.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}
