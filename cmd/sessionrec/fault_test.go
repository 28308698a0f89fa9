package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

// faultPartitions is the input partitions of the fault suite's topics.
const faultPartitions = 2

// privateBroker is a real Apache Kafka broker of one test's own, started
// with deploy/kafka/kafka.sh on its own port and run dir, so that the test
// can pause and restart it without touching the broker the other tests
// share.
type privateBroker struct {
	brokers []string
	env     []string
}

func startPrivateBroker(t *testing.T) *privateBroker {
	t.Helper()
	port := freePort(t)
	_, p, _ := strings.Cut(port, ":")
	cport := freePort(t)
	_, cp, _ := strings.Cut(cport, ":")
	b := &privateBroker{env: append(os.Environ(), "SESSIONREC_KAFKA_PORT="+p, "SESSIONREC_KAFKA_CONTROLLER_PORT="+cp,
		"SESSIONREC_KAFKA_RUN="+filepath.Join(t.TempDir(), "kafka"))}
	out := b.script(t, "start")
	line := strings.TrimSpace(out)
	addr, ok := strings.CutPrefix(line, "SESSIONREC_BROKERS=")
	require.True(t, ok, "kafka.sh start printed %q", out)
	b.brokers = brokerList(addr)
	t.Cleanup(func() { b.script(t, "stop") })
	return b
}

// script runs kafka.sh with a command and returns its stdout.
func (b *privateBroker) script(t *testing.T, command string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "..", "deploy", "kafka", "kafka.sh"), command)
	cmd.Env = b.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "kafka.sh %s: %s", command, errOut.String())
	return out.String()
}

// poison is a record that must become a dead letter with reason, or, on
// the models topic (reason ""), a refused model.
type poison struct {
	topic  topics.Topic
	key    []byte
	value  []byte
	reason string
}

// poisonRecords returns one record of every kind of bad input on every
// input topic; item is an item the model knows.
func poisonRecords(names topics.Names, item string) []poison {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	long := strings.Repeat("k", 2<<20)
	p := func(topic topics.Topic, key, value, reason string) poison {
		return poison{topic, []byte(key), []byte(value), reason}
	}
	ok := `"user_id":"user-0001","item_id":"` + item + `"`
	return []poison{
		p(names.Clicks, "user-0001", "{not json", topics.ReasonMalformed),
		p(names.Clicks, "user-0001", `{"user_id":"user-0001"}`, topics.ReasonMissingField),
		p(names.Clicks, "user-0001", `{`+ok+`,"colour":"red"}`, topics.ReasonUnknownField),
		p(names.Clicks, "user-0001", `{"user_id":"user-0001","item_id":"no-such-item"}`, topics.ReasonUnknownItem),
		p(names.Clicks, "user-0001", `{"user_id":"user-0002","item_id":"`+item+`"}`, topics.ReasonInvalidField),
		p(names.Clicks, "", `{"user_id":"","item_id":"`+item+`"}`, topics.ReasonInvalidField),
		p(names.Clicks, long, `{"user_id":"user-0001","item_id":"`+item+`"}`, topics.ReasonInvalidField),
		p(names.Clicks, "user-0001", `{`+ok+`,"ts":"1999-12-31T23:59:59Z"}`, topics.ReasonTimestamp),
		p(names.Clicks, "user-0001", `{`+ok+`,"ts":"`+ts(time.Now().Add(23*time.Hour))+`"}`, topics.ReasonTimestamp),
		p(names.Clicks, "user-0001", `{`+ok+`,"ts":"`+ts(time.Now().Add(10*time.Minute))+`"}`, topics.ReasonTimestamp),
		p(names.Clicks, "user-0001", `{`+ok+`,"session_id":"`+strings.Repeat("s", 70<<10)+`"}`, topics.ReasonTooLarge),
		p(names.Purchases, "user-0001", "[]", topics.ReasonMalformed),
		p(names.Purchases, "user-0001", `{`+ok+`,"quantity":0}`, topics.ReasonInvalidField),
		p(names.Purchases, "user-0001", `{`+ok+`,"price":-1}`, topics.ReasonInvalidField),
		p(names.Purchases, "user-0001", `{`+ok+`,"price":1e999}`, topics.ReasonInvalidField),
		p(names.Purchases, long, `{"user_id":"x","item_id":"`+item+`"}`, topics.ReasonInvalidField),
		p(names.Items, "item-bad", "{not json", topics.ReasonMalformed),
		p(names.Items, "item-bad2", `{"name":"x"}`, topics.ReasonMissingField),
		p(names.Items, long, `{"item_id":"x","name":"cat food","category":"pets","brand":"b","price":1}`, topics.ReasonInvalidField),
		{names.Items, []byte(long), nil, topics.ReasonInvalidField}, // a tombstone
		// The models topic: a manifest that claims 2^50 bytes, a chunk
		// with an absurd index, a key of 2 MiB, and garbage.
		p(names.Models, "huge", fmt.Sprintf(`{"version":"huge","chunks":%d,"size":%d,"sha256":"%s","published_at":"2026-01-01T00:00:00Z"}`,
			((1<<50)+topics.ModelChunkSize-1)/topics.ModelChunkSize, int64(1)<<50, strings.Repeat("ab", 32)), ""),
		p(names.Models, "huge/999999999999", "chunk", ""),
		p(names.Models, long, "{", ""),
		p(names.Models, "garbage", "\x00\x01\x02", ""),
	}
}

// TestFaultSuite drives one `sessionrec run` instance, as an operator
// would, through what production does to it, against a real Apache Kafka
// broker of its own (deploy/kafka/kafka.sh): a real-data stream with every
// kind of poison record on every input topic, a SIGKILL in the middle of
// poison batches, the broker paused (SIGSTOP) for 30 seconds, the broker
// stopped and started again on its data dir, and a flood of expensive
// query API requests. Between the faults it sends more of the stream;
// after them it compares the instance's store with the state the
// sessionizer computes in-process from the good events (each applied
// exactly once), the dead-letter topic with the poison records sent (each
// there with its reason, and nothing else), and its logs with "panic"
// (never). The disk fault has its own test on Pebble's errorfs
// (processor.TestStoreFailureStopsTheProcessor).
func TestFaultSuite(t *testing.T) {
	kb := startPrivateBroker(t)
	brokers := kb.brokers
	bin := buildBinary(t)
	d, err := dataset.Load(dataDirForTest(t), dataset.Diginetica)
	require.NoError(t, err)
	events := datasetEvents(d, false)
	modelPath, known := trainTestModel(t)
	item := ""
	for _, e := range events {
		if known[e.ItemID] {
			item = e.ItemID
			break
		}
	}
	require.NotEmpty(t, item)

	names := topics.DefaultNames().WithSuffix("-faults")
	group := "sessionrec-faults"
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: faultPartitions}))

	var logs lockedLogs
	inst := &faultInstance{t: t, bin: bin, logs: &logs, api: freePort(t), ops: freePort(t), args: []string{
		"run", "--brokers", strings.Join(brokers, ","), "--group", group, "--data-dir", t.TempDir(),
		"--idle-advance", "-1s", "--batch-size", "50", "--session-timeout", "6s", "--broker-timeout", "3m",
		"--model", modelPath, "--clicks-topic", string(names.Clicks), "--purchases-topic", string(names.Purchases),
		"--items-topic", string(names.Items), "--models-topic", string(names.Models),
		"--recommendations-topic", string(names.Recommendations), "--dlq-topic", string(names.DeadLetters), "--erasures-topic", string(names.Erasures)}}
	inst.args = append(inst.args, "--http", inst.api, "--metrics-addr", inst.ops)

	// What the poison must produce: dead letters by topic, reason and
	// original value (counted), and refused models.
	wantDead := map[string]int{}
	deadKey := func(topic topics.Topic, reason string, value []byte) string {
		return fmt.Sprintf("%s %s %x", topic, reason, value)
	}
	refusals := 0
	prod := topics.NewProducer(brokers, names)
	defer func() { require.NoError(t, prod.Close()) }()
	// Poison goes through a writer that compresses, so that 2 MiB keys
	// pass the broker's 1 MiB limit, as a hostile producer's would.
	pw := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Balancer: &kafka.Murmur2Balancer{},
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Compression: kafka.Zstd, BatchBytes: 8 << 20}
	defer func() { require.NoError(t, pw.Close()) }()
	first := events[0].Time
	var last time.Time // the newest good event sent
	sendGood := func(evs []topics.Event) {
		t.Helper()
		if len(evs) == 0 {
			return
		}
		_, err := topics.Replay(t.Context(), prod, evs, topics.ReplayConfig{})
		require.NoError(t, err)
		for _, e := range evs {
			if !known[e.ItemID] {
				v, err := e.Encode()
				require.NoError(t, err)
				topic := names.Clicks
				if e.Kind == topics.KindPurchase {
					topic = names.Purchases
				}
				wantDead[deadKey(topic, topics.ReasonUnknownItem, v)]++
			}
		}
		last = evs[len(evs)-1].Time
	}
	sendPoison := func(ps []poison) {
		t.Helper()
		msgs := make([]kafka.Message, len(ps))
		for i, p := range ps {
			msgs[i] = kafka.Message{Topic: string(p.topic), Key: p.key, Value: p.value, Time: last}
			if p.topic == names.Models {
				refusals++
			} else {
				wantDead[deadKey(p.topic, p.reason, p.value)]++
			}
		}
		require.NoError(t, pw.WriteMessages(t.Context(), msgs...))
	}
	late := poison{names.Clicks, []byte("user-0001"), fmt.Appendf(nil, `{"user_id":"user-0001","item_id":"%s","ts":"%s"}`,
		item, first.UTC().Format(time.RFC3339Nano)), topics.ReasonLate}
	chunks := make([][]topics.Event, 5)
	for i, e := range events {
		chunks[i*len(chunks)/len(events)] = append(chunks[i*len(chunks)/len(events)], e)
	}

	// 1. Poison of every kind on every input topic, after the first part
	// of the stream.
	inst.start()
	inst.ready(time.Minute)
	sendGood(chunks[0])
	sendPoison(append(poisonRecords(names, item), late))
	inst.caughtUp(adm, group, names, 2*time.Minute)
	t.Logf("poison: caught up, alive")

	// 2. SIGKILL in the middle of poison batches: the next part, with
	// poison after every 50 events, waits for an instance started anew
	// (killed too), which is killed again once it has made progress, as
	// many times as it takes to land a kill with records left (at most
	// five).
	inst.kill()
	inputPoison := slices.DeleteFunc(poisonRecords(names, item), func(p poison) bool {
		return p.topic != names.Clicks && p.topic != names.Purchases
	})
	for evs := chunks[1]; len(evs) > 0; {
		n := min(50, len(evs))
		sendGood(evs[:n])
		sendPoison(append(slices.Clone(inputPoison), late))
		evs = evs[n:]
	}
	midway := false
	for try := 0; try < 5 && !midway; try++ {
		before := inst.lag(adm, group, names)
		inst.start()
		deadline := time.Now().Add(90 * time.Second)
		for inst.lag(adm, group, names) >= before {
			inst.alive()
			require.True(t, time.Now().Before(deadline), "no progress in 90 s; logs:\n%s", logs.String())
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		inst.kill()
		after := inst.lag(adm, group, names)
		midway = after > 0
		t.Logf("SIGKILL with lag %d of %d", after, before)
	}
	require.True(t, midway, "no kill landed with records left")
	inst.start()
	inst.ready(time.Minute)
	inst.caughtUp(adm, group, names, 2*time.Minute)

	// 3. The broker paused for 30 s with records waiting: the instance
	// stays up, says it is not ready, and goes on after.
	sendGood(chunks[2])
	kb.script(t, "pause")
	pausedUntil := time.Now().Add(30 * time.Second)
	sawUnready := false
	for time.Now().Before(pausedUntil) {
		inst.alive()
		if !inst.isReady() {
			sawUnready = true
		}
		time.Sleep(500 * time.Millisecond)
	}
	kb.script(t, "resume")
	require.True(t, sawUnready, "/readyz answered 200 throughout a 30 s broker pause")
	inst.ready(2 * time.Minute)
	inst.caughtUp(adm, group, names, 2*time.Minute)
	t.Logf("broker pause: ridden through")

	// 4. The broker stopped and started again on its data dir.
	sendGood(chunks[3])
	kb.script(t, "restart")
	inst.alive()
	inst.ready(2 * time.Minute)
	inst.caughtUp(adm, group, names, 2*time.Minute)
	t.Logf("broker restart: ridden through")

	// 5. A flood of expensive query API requests, bounded in count and
	// time, on loopback, while the last part of the stream is sent; the
	// operational endpoints, on their own listener, keep answering.
	users := map[string]bool{}
	for _, e := range chunks[3] {
		users[e.UserID] = true
	}
	statuses := inst.flood(slices.Sorted(maps.Keys(users)), 3000, 20*time.Second, func() {
		sendGood(chunks[4])
	})
	t.Logf("API flood: statuses %v", statuses)
	require.Positive(t, statuses[http.StatusOK], "the flood got no answer at all")
	inst.caughtUp(adm, group, names, 2*time.Minute)
	inst.alive()

	// The model refusals, then a clean stop.
	metrics := inst.metrics()
	require.GreaterOrEqual(t, metricSum(metrics, "sessionrec_model_rejected_total"), 3.0,
		"models refused (the 2^50-byte manifest, the 2 MiB key, the garbage): %d poison records sent", refusals)
	inst.stop()

	// Every good event applied exactly once.
	db, err := store.Open(inst.dataDir(), store.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	var applicable []topics.Event
	for _, e := range events {
		if known[e.ItemID] {
			applicable = append(applicable, e)
		}
	}
	want := referenceState(applicable, faultPartitions)
	got := map[string]*store.UserState{}
	for p := range int32(faultPartitions) {
		require.NoError(t, db.Users(p, func(id string, s *store.UserState) bool {
			got[id] = s
			return true
		}))
	}
	for id, s := range got {
		if _, ok := want[id]; !ok {
			require.Zero(t, s.Applied, "user %s, who sent only poison, has events applied", id)
		}
	}
	var wrong []string
	for _, id := range slices.Sorted(maps.Keys(want)) {
		w, g := want[id], got[id]
		switch {
		case g == nil:
			wrong = append(wrong, fmt.Sprintf("user %s missing", id))
		case w.Applied != g.Applied || w.Sessions != g.Sessions || !slices.Equal(sortedEvents(w.Events), sortedEvents(g.Events)):
			wrong = append(wrong, fmt.Sprintf("user %s: %d events applied, %d sessions closed, %d open; want %d, %d, %d",
				id, g.Applied, g.Sessions, len(g.Events), w.Applied, w.Sessions, len(w.Events)))
		}
	}

	// Every poison record is a dead letter with its reason, and nothing
	// else is (a record dead-lettered twice, by a batch applied again
	// after the SIGKILL, counts once: by its source offset).
	var gotDead map[string]int
	deadline := time.Now().Add(time.Minute)
	for {
		gotDead = readDeadLetters(t, brokers, names.DeadLetters, faultPartitions, deadKey)
		if maps.Equal(gotDead, wantDead) || len(wrong) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	require.Empty(t, wrong, "users whose state is not the reference's (%d of %d); dead letters by topic and reason: got %v, want %v",
		len(wrong), len(want), summarize(gotDead), summarize(wantDead))
	require.Equal(t, summarize(wantDead), summarize(gotDead), "dead letters by topic and reason")
	require.Equal(t, wantDead, gotDead, "dead letters by topic, reason and value")

	// No process panicked.
	require.NotContains(t, logs.String(), "panic", "the instances' logs")
}

// readDeadLetters reads the dead-letter topic whole and counts its
// records, each source record once, by key.
func readDeadLetters(t *testing.T, brokers []string, topic topics.Topic, partitions int, key func(topics.Topic, string, []byte) string) map[string]int {
	t.Helper()
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	defer adm.Close()
	ends, err := adm.EndOffsets(t.Context(), topic)
	require.NoError(t, err)
	seen := map[string]bool{}
	out := map[string]int{}
	for part := range int32(partitions) {
		r := topics.ReplayRange{Topic: topic, Partition: part, From: 0, To: ends[part]}
		require.NoError(t, topics.ReadRange(t.Context(), brokers, r, func(m kafka.Message) error {
			dl, err := topics.DecodeDeadLetter(m.Key, m.Value)
			if err != nil {
				return err
			}
			src := fmt.Sprintf("%s/%d@%d", dl.Topic, dl.Partition, dl.Offset)
			if !seen[src] {
				seen[src] = true
				out[key(dl.Topic, dl.Reason, dl.Value)]++
			}
			return nil
		}))
	}
	return out
}

// summarize folds dead-letter counts by topic and reason, for a readable
// failure.
func summarize(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range m {
		f := strings.Fields(k)
		out[f[0]+" "+f[1]] += n
	}
	return out
}

// metricSum adds the values of every series of a metric in a Prometheus
// text exposition.
func metricSum(exposition, name string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(strings.NewReader(exposition))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}

// lockedLogs collects the stderr of every instance a test runs.
type lockedLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// faultInstance runs `sessionrec run` as a subprocess, one process at a
// time, over one data dir.
type faultInstance struct {
	t        testing.TB
	bin      string
	args     []string
	api, ops string
	logs     *lockedLogs
	cmd      *exec.Cmd
	exited   chan struct{}
}

func (f *faultInstance) dataDir() string {
	i := slices.Index(f.args, "--data-dir")
	return f.args[i+1]
}

func (f *faultInstance) start() {
	f.t.Helper()
	f.cmd = exec.Command(f.bin, f.args...)
	f.cmd.Stderr = f.logs
	require.NoError(f.t, f.cmd.Start())
	f.exited = make(chan struct{})
	cmd, exited := f.cmd, f.exited
	go func() {
		_ = cmd.Wait() // how it exited is read through exited and ProcessState
		close(exited)
	}()
}

// alive fails the test when the instance has exited by itself.
func (f *faultInstance) alive() {
	f.t.Helper()
	select {
	case <-f.exited:
		f.t.Fatalf("sessionrec run exited by itself (%v); logs:\n%s", f.cmd.ProcessState, f.logs.String())
	default:
	}
}

func (f *faultInstance) kill() {
	f.t.Helper()
	f.alive()
	require.NoError(f.t, f.cmd.Process.Signal(syscall.SIGKILL))
	<-f.exited
}

// stop ends the instance with SIGTERM, which must end it, with status 0,
// within 5 s.
func (f *faultInstance) stop() {
	f.t.Helper()
	f.alive()
	require.NoError(f.t, f.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-f.exited:
		require.True(f.t, f.cmd.ProcessState.Success(), "exit after SIGTERM: %v; logs:\n%s", f.cmd.ProcessState, f.logs.String())
	case <-time.After(5 * time.Second):
		// SIGQUIT makes the Go runtime print every goroutine's stack to
		// the logs: where the shutdown was stuck.
		_ = f.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-f.exited:
		case <-time.After(5 * time.Second):
			_ = f.cmd.Process.Kill()
			<-f.exited
		}
		f.t.Fatalf("no exit within 5 s of SIGTERM; logs (with the goroutines at SIGQUIT):\n%s", f.logs.String())
	}
}

// httpGet asks addr for path within timeout, and returns the status (0:
// no answer) and the body.
func httpGet(addr, path string, timeout time.Duration) (int, string) {
	c := http.Client{Timeout: timeout}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body) // a cut body reads as what it is
	return resp.StatusCode, string(b)
}

func (f *faultInstance) isReady() bool {
	code, _ := httpGet(f.ops, "/readyz", 2*time.Second)
	return code == http.StatusOK
}

func (f *faultInstance) ready(within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for !f.isReady() {
		f.alive()
		require.True(f.t, time.Now().Before(deadline), "not ready after %s; logs:\n%s", within, f.logs.String())
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *faultInstance) metrics() string {
	f.t.Helper()
	code, body := httpGet(f.ops, "/metrics", 5*time.Second)
	require.Equal(f.t, http.StatusOK, code, "/metrics")
	return body
}

// lag is the records of the input topics past the group's commits.
func (f *faultInstance) lag(adm *topics.Admin, group string, names topics.Names) int64 {
	f.t.Helper()
	ls, err := adm.Lag(f.t.Context(), group, names.Clicks, names.Purchases)
	for try := 0; err != nil && try < 100; try++ {
		time.Sleep(100 * time.Millisecond)
		ls, err = adm.Lag(f.t.Context(), group, names.Clicks, names.Purchases)
	}
	require.NoError(f.t, err)
	var n int64
	for _, l := range ls {
		n += l.End - max(l.Committed, 0)
	}
	return n
}

// caughtUp waits until the group has committed every input record.
func (f *faultInstance) caughtUp(adm *topics.Admin, group string, names topics.Names, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		n := f.lag(adm, group, names)
		if n == 0 {
			return
		}
		f.alive()
		require.True(f.t, time.Now().Before(deadline), "lag %d after %s; logs:\n%s", n, within, f.logs.String())
		time.Sleep(100 * time.Millisecond)
	}
}

// flood sends up to n expensive recommendation requests for users from 16
// clients at once, for at most d, while during runs; it returns the
// answers' statuses (0: no answer). The operational endpoints must answer
// all along.
func (f *faultInstance) flood(users []string, n int, d time.Duration, during func()) map[int]int {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), d)
	defer cancel()
	var sent atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			c := http.Client{Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				i := sent.Add(1)
				if i > int64(n) {
					return
				}
				u := users[int(i)%len(users)]
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+f.api+"/v1/users/"+u+"/recommendations?k=50&diversity=1", nil)
				code := 0
				if resp, err := c.Do(req); err == nil {
					code = resp.StatusCode
					_, _ = io.Copy(io.Discard, resp.Body) // drained for the connection's reuse
					_ = resp.Body.Close()
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		})
	}
	during()
	// Mid-flood, the probes answer on their own listener.
	code, _ := httpGet(f.ops, "/healthz", 2*time.Second)
	require.Equal(f.t, http.StatusOK, code, "/healthz during the flood")
	wg.Wait()
	return statuses
}
