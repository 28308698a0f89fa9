package processor

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// BenchmarkRestore restores a partition from scratch, into an empty store,
// from a changelog of restoreUsers users (SESSIONREC_RESTORE_USERS,
// default 1,000,000) and one checkpoint: the time a fresh instance takes
// before it serves a partition it was given. It runs against kfake and,
// when SESSIONREC_BROKERS is set, against that real broker too. Writing
// the changelog is not timed; opening the store is not either. MB/s is of
// the changelog's keys and values, as the restore counts them.
//
//	go test ./processor/ -run '^$' -bench BenchmarkRestore -benchtime 1x -count 3
func BenchmarkRestore(b *testing.B) {
	users := restoreUsers(b)
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	clusters := map[string][]string{"kfake": c.ListenAddrs()}
	if s := os.Getenv("SESSIONREC_BROKERS"); s != "" {
		clusters["real"] = strings.Split(s, ",")
	}
	for _, name := range []string{"kfake", "real"} {
		if brokers, ok := clusters[name]; ok {
			b.Run(name, func(b *testing.B) { benchmarkRestore(b, brokers, users) })
		}
	}
}

// restoreUsers returns the user count of BenchmarkRestore.
func restoreUsers(b *testing.B) int {
	s := os.Getenv("SESSIONREC_RESTORE_USERS")
	if s == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("SESSIONREC_RESTORE_USERS=%q: want a positive integer", s)
	}
	return n
}

func benchmarkRestore(b *testing.B, brokers []string, users int) {
	ctx := b.Context()
	group := fmt.Sprintf("bench-restore-%d", rand.Uint32())
	adm, err := topics.NewAdmin(brokers)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(adm.Close)
	if err := adm.CreateChangelog(ctx, group, 1); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteBenchTopic(b, brokers, topics.Changelog(group)) })

	start := time.Now()
	until, size := writeBenchChangelog(b, brokers, group, users)
	b.Logf("changelog of %d users written in %s: %.1f MB, a user's state %.0f bytes on average (key and value)",
		users, time.Since(start).Round(time.Millisecond), float64(size.total)/1e6, float64(size.users)/float64(users))

	cfg := Config{Brokers: brokers, Group: group, Logger: slog.New(slog.DiscardHandler)}
	if err := cfg.fill(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size.total)
	b.ReportAllocs()
	runs := 0
	for b.Loop() {
		runs++
		b.StopTimer()
		db, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		tb := &table{cfg: &cfg, db: db, admin: adm, brokers: &outage{cfg: &cfg}, topic: topics.Changelog(group)}
		b.StartTimer()

		// No changelog writer: a fresh store has no state to seed the
		// changelog with.
		if err := tb.restore(ctx, 0, until, nil); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		checkRestored(b, db, users, until)
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(users)*float64(runs)/b.Elapsed().Seconds(), "users/s")
}

// changelogSize is what writeBenchChangelog wrote, in bytes of keys and
// values: of the users' records, and of those and the checkpoint.
type changelogSize struct{ users, total int64 }

// writeBenchChangelog writes partition 0 of group's changelog as an owner
// does: a claim, then the users' states in transactions of
// benchTxnUsers, then a checkpoint. It returns the checkpoint's offset.
func writeBenchChangelog(b *testing.B, brokers []string, group string, users int) (int64, changelogSize) {
	ctx := b.Context()
	sl, err := openStateLog(brokers, nil, group, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sl.Close()
	// The claim is the one record left out of the size: about 150 bytes.
	if _, err := sl.claim(ctx, ownerClaim{Member: "bench", Generation: 1}); err != nil {
		b.Fatal(err)
	}
	var size changelogSize
	const seed = 1
	b.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	base := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC).UnixMilli()
	recs := make([]*kgo.Record, 0, benchTxnUsers)
	for i := range users {
		id, s := benchUser(rng, i, base)
		v := store.AppendUserState(nil, s)
		recs = append(recs, &kgo.Record{Key: []byte(id), Value: v})
		size.users += int64(len(id) + len(v))
		if len(recs) == benchTxnUsers || i == users-1 {
			if _, err := sl.txn(ctx, recs, nil); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	cp := store.AppendCheckpoint(nil, store.Checkpoint{Offsets: map[string]int64{"clicks": int64(users) * 12, "purchases": int64(users)}, WatermarkMs: base})
	until, err := sl.txn(ctx, []*kgo.Record{{Key: checkpointLogKey, Value: cp}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	size.total = size.users + int64(len(checkpointLogKey)+len(cp))
	return until, size
}

// benchTxnUsers is how many users' states one changelog transaction of
// BenchmarkRestore holds: a busy partition's poll batch or more.
const benchTxnUsers = 10_000

// benchUser returns user i's state: an open session of 5 to 20 clicks of
// distinct items a minute apart, the last sometimes a purchase; every
// second user's events carry event IDs; every third user has closed
// sessions and keeps one or two of their intents (100-dimensional
// centroids, the model's default), and the IDs of their last events.
func benchUser(rng *rand.Rand, i int, base int64) (string, *store.UserState) {
	id := fmt.Sprintf("user-%07d", i)
	n := 5 + rng.IntN(16)
	start := base + rng.Int64N(6*3600_000)
	s := &store.UserState{SessionID: id + "-" + strconv.FormatInt(start, 10), Events: make([]store.Event, n), Applied: uint64(n)}
	item := rng.IntN(50_000)
	for j := range s.Events {
		e := store.Event{ItemID: "item-" + strconv.Itoa(item+j), TimeMs: start + int64(j)*60_000}
		if i%2 == 0 {
			e.EventID = fmt.Sprintf("%016x", rng.Uint64())
		}
		s.Events[j] = e
	}
	s.LastEventMs = s.Events[n-1].TimeMs
	if rng.IntN(10) == 0 {
		s.Events[n-1].Kind = store.Purchase
	}
	if i%3 == 0 {
		s.Sessions = uint64(1 + rng.IntN(5))
		s.Applied += 10 * s.Sessions
		s.PublishedSig = rng.Uint64()
		for k := range 1 + rng.IntN(2) {
			p := store.PastIntent{ID: fmt.Sprintf("%s-i%d", id, k), Centroid: make([]float32, 100),
				Coherence: rng.Float32(), Weight: rng.Float32(), LastSeenMs: start - int64(k+1)*86_400_000}
			for m := range 3 + rng.IntN(3) {
				p.Items = append(p.Items, "item-"+strconv.Itoa(rng.IntN(50_000)+m))
			}
			for d := range p.Centroid {
				p.Centroid[d] = rng.Float32()*2 - 1
			}
			s.Past = append(s.Past, p)
		}
		for k := range 5 {
			s.ClosedIDs = append(s.ClosedIDs, store.ClosedID{ID: fmt.Sprintf("%016x", rng.Uint64()), TimeMs: start - 86_400_000 + int64(k)*60_000})
		}
	}
	return id, s
}

// checkRestored fails b unless db holds users users in partition 0 and a
// checkpoint whose changelog position is past until.
func checkRestored(b *testing.B, db *store.DB, users int, until int64) {
	b.Helper()
	got := 0
	if err := db.Users(0, func(string, *store.UserState) bool { got++; return true }); err != nil {
		b.Fatal(err)
	}
	if got != users {
		b.Fatalf("restored %d users, want %d", got, users)
	}
	cp, err := db.Checkpoint(0)
	if err != nil {
		b.Fatal(err)
	}
	if cp.Changelog != until+1 {
		b.Fatalf("restored checkpoint's changelog position %d, want %d", cp.Changelog, until+1)
	}
}

// deleteBenchTopic deletes topic: a kfake cluster goes away whole, a real
// one would keep the changelog's hundreds of megabytes.
func deleteBenchTopic(b *testing.B, brokers []string, topic topics.Topic) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Error(err)
		return
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).DeleteTopic(ctx, string(topic))
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		b.Errorf("delete %s: %v", topic, err)
	}
}
