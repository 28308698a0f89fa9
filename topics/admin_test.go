package topics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The admin suite runs against an in-process kfake broker always, and also
// against the real Kafka named by SESSIONREC_BROKERS (host:port, comma
// separated) when it is set: subtests "kfake" and "real". The test command
// sets it (shared/STYLE.md, Tests). On a shared real cluster every test
// uses topic names of its own (from its name and a random suffix) and
// deletes them when it ends.

// brokersEnv names the real cluster the suite also runs against.
const brokersEnv = "SESSIONREC_BROKERS"

// forEachCluster runs test against a fresh kfake cluster, as subtest
// "kfake", and against the real cluster of SESSIONREC_BROKERS, as subtest
// "real", when it is set.
func forEachCluster(t *testing.T, test func(t *testing.T, brokers []string)) {
	t.Helper()
	t.Run("kfake", func(t *testing.T) { test(t, startKfake(t)) })
	if brokers := realBrokers(); brokers != nil {
		t.Run("real", func(t *testing.T) { test(t, brokers) })
	}
}

// realBrokers returns SESSIONREC_BROKERS split on commas, or nil when it
// is not set.
func realBrokers() []string {
	var out []string
	for b := range strings.SplitSeq(os.Getenv(brokersEnv), ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// startKfake starts a one-broker in-process Kafka, closed when the test
// ends, and returns its address.
func startKfake(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// newTestAdmin returns an Admin on brokers, closed when the test ends.
func newTestAdmin(t *testing.T, brokers []string) *Admin {
	t.Helper()
	a, err := NewAdmin(brokers)
	require.NoError(t, err)
	t.Cleanup(a.Close)
	return a
}

// uniquePrefix returns a topic name prefix of the test's own: its name
// made legal, and a random suffix, so that tests never share a topic on a
// real cluster (nor a run with the one before).
func uniquePrefix(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for _, r := range strings.TrimPrefix(t.Name(), "Test") {
		if r < 128 && legalTopicByte(byte(r)) && r != '.' && r != '_' {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('-')
		}
	}
	prefix := sb.String()
	if len(prefix) > 150 {
		prefix = prefix[:150]
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return prefix + "-" + hex.EncodeToString(suffix)
}

// deleteAtCleanup deletes topics when the test ends (a kfake cluster goes
// away whole; a real one keeps what is not deleted).
func deleteAtCleanup(t *testing.T, a *Admin, topics ...Topic) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		resps, err := a.adm.DeleteTopics(ctx, topicStrings(topics)...)
		if err != nil {
			t.Errorf("cleanup: delete topics: %v", err)
			return
		}
		for _, r := range resps {
			if r.Err != nil && !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
				t.Errorf("cleanup: delete %s: %v", r.Topic, r.Err)
			}
		}
	})
}

// uniqueNames returns topic names of the test's own (see uniquePrefix),
// deleted when the test ends, and their prefix.
func uniqueNames(t *testing.T, a *Admin) (Names, string) {
	t.Helper()
	prefix := uniquePrefix(t)
	n := Names{
		Clicks:          Topic(prefix + "-clicks"),
		Purchases:       Topic(prefix + "-purchases"),
		Recommendations: Topic(prefix + "-recommendations"),
		DeadLetters:     Topic(prefix + "-dlq"),
		Items:           Topic(prefix + "-items"),
		Models:          Topic(prefix + "-models"),
		Erasures:        Topic(prefix + "-erasures"),
	}
	require.NoError(t, n.Validate())
	deleteAtCleanup(t, a, n.All()...)
	return n, prefix
}

// preCreate creates one topic directly, as an operator might have, before
// the code under test runs.
func preCreate(t *testing.T, a *Admin, topic Topic, partitions int32, configs map[string]*string) {
	t.Helper()
	require.NoError(t, a.create(t.Context(), topicSpec{partitions, configs, []Topic{topic}}, 1))
	require.NoError(t, a.waitReady(t.Context(), []Topic{topic}))
}

func TestNewAdminNoBrokers(t *testing.T) {
	_, err := NewAdmin(nil)
	require.EqualError(t, err, "topics: new admin: no brokers")
}

func TestAdminCreateCheck(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		cfg := TopicConfig{Partitions: 3}
		require.NoError(t, a.Create(t.Context(), names, cfg))
		// Idempotent.
		require.NoError(t, a.Create(t.Context(), names, cfg))

		l, err := a.Check(t.Context(), names)
		require.NoError(t, err)
		if l.Partitions != 3 {
			t.Errorf("got %d input partitions, want 3", l.Partitions)
		}
		want := map[Topic]struct {
			partitions int32
			compacted  bool
		}{
			names.Clicks:          {3, false},
			names.Purchases:       {3, false},
			names.Recommendations: {3, true},
			names.DeadLetters:     {3, false},
			names.Items:           {CatalogPartitions, true},
			names.Models:          {CatalogPartitions, true},
			names.Erasures:        {3, false},
		}
		require.Len(t, l.Topics, len(want))
		for topic, w := range want {
			got := l.Topics[topic]
			if got.Partitions != w.partitions || got.Compacted() != w.compacted || got.ReplicationFactor != 1 {
				t.Errorf("%s: got %d partitions, %d replicas, cleanup.policy %q; want %d, 1, compacted %t",
					topic, got.Partitions, got.ReplicationFactor, got.CleanupPolicy, w.partitions, w.compacted)
			}
		}

		// The compaction is really set on the topic, as Kafka reports it.
		rcs, err := a.adm.DescribeTopicConfigs(t.Context(), string(names.Recommendations))
		require.NoError(t, err)
		rc, err := rcs.On(string(names.Recommendations), nil)
		require.NoError(t, err)
		require.NoError(t, rc.Err)
		var policy string
		for _, c := range rc.Configs {
			if c.Key == "cleanup.policy" {
				policy = c.MaybeValue()
			}
		}
		require.Equal(t, "compact", policy)
	})
}

func TestAdminCheck(t *testing.T) {
	// Each case creates some topics by hand first (clicks, purchases and
	// recommendations by role), then runs Create for the rest unless
	// noCreate, then Check.
	type pre struct {
		role       string
		partitions int32
		compact    bool
	}
	tests := []struct {
		name      string
		pre       []pre
		noCreate  bool
		wantErrs  []error  // sentinels the error must match
		wantText  []string // substrings of the error
		wantParts int32
	}{
		{
			name:      "ok",
			wantParts: 4,
		},
		{
			name:      "existing topics with the same count",
			pre:       []pre{{"clicks", 6, false}, {"purchases", 6, false}},
			wantParts: 6,
		},
		{
			name:      "partition mismatch",
			pre:       []pre{{"purchases", 3, false}},
			wantErrs:  []error{ErrPartitionMismatch},
			wantText:  []string{"clicks has 4 partitions and ", "purchases 3: they must be co-partitioned (same count)"},
			wantParts: 4,
		},
		{
			name:      "erasures not co-partitioned",
			pre:       []pre{{"erasures", 3, false}},
			wantErrs:  []error{ErrPartitionMismatch},
			wantText:  []string{"clicks has 4 partitions and ", "erasures 3: they must be co-partitioned (same count)"},
			wantParts: 4,
		},
		{
			name:      "recommendations not compacted",
			pre:       []pre{{"recommendations", 4, false}},
			wantErrs:  []error{ErrNotCompacted},
			wantText:  []string{`recommendations has cleanup.policy "delete", want compact`},
			wantParts: 4,
		},
		{
			name:      "missing topics",
			pre:       []pre{{"clicks", 2, false}, {"recommendations", 2, true}},
			noCreate:  true,
			wantErrs:  []error{ErrMissingTopic},
			wantText:  []string{"-purchases, ", "-dlq, ", "-items, ", "-models, ", "-erasures do not exist"},
			wantParts: 2,
		},
		{
			name:      "missing and mismatched",
			pre:       []pre{{"clicks", 2, false}, {"purchases", 1, false}, {"recommendations", 1, false}},
			noCreate:  true,
			wantErrs:  []error{ErrMissingTopic, ErrPartitionMismatch, ErrNotCompacted},
			wantParts: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachCluster(t, func(t *testing.T, brokers []string) {
				a := newTestAdmin(t, brokers)
				names, _ := uniqueNames(t, a)
				byRole := map[string]Topic{"clicks": names.Clicks, "purchases": names.Purchases, "recommendations": names.Recommendations, "erasures": names.Erasures}
				for _, p := range tc.pre {
					var configs map[string]*string
					if p.compact {
						configs = map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
					}
					preCreate(t, a, byRole[p.role], p.partitions, configs)
				}
				if !tc.noCreate {
					require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
				}
				l, err := a.Check(t.Context(), names)
				if l.Partitions != tc.wantParts {
					t.Errorf("got %d input partitions, want %d", l.Partitions, tc.wantParts)
				}
				if len(tc.wantErrs) == 0 {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				for _, want := range tc.wantErrs {
					if !errors.Is(err, want) {
						t.Errorf("got %v, want it to match %v", err, want)
					}
				}
				for _, want := range tc.wantText {
					require.ErrorContains(t, err, want)
				}
				require.True(t, strings.HasPrefix(err.Error(), "topics: "), "got %q, want the prefix \"topics: \"", err)
			})
		})
	}
}

func TestAdminCheckMismatchError(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		preCreate(t, a, names.Purchases, 3, nil)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
		_, err := a.Check(t.Context(), names)
		pm, ok := errors.AsType[*PartitionMismatchError](err)
		require.True(t, ok, "got %v, want a *PartitionMismatchError", err)
		require.Equal(t, PartitionMismatchError{Topic: names.Clicks, Partitions: 4, Other: names.Purchases, OtherPartitions: 3}, *pm)
	})
}

func TestAdminCreateErasures(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		// Missing: created with the count asked, and again is a no-op.
		require.NoError(t, a.CreateErasures(t.Context(), names, 3))
		require.NoError(t, a.CreateErasures(t.Context(), names, 3))
		infos, err := a.describe(t.Context(), []Topic{names.Erasures})
		require.NoError(t, err)
		require.Equal(t, int32(3), infos[names.Erasures].Partitions)
		// Another count than the inputs': refused, never changed.
		err = a.CreateErasures(t.Context(), names, 4)
		require.ErrorIs(t, err, ErrPartitionMismatch)
		require.ErrorContains(t, err, "erasures")
		require.Error(t, a.CreateErasures(t.Context(), names, 0))
	})
}

func TestAdminCreateChangelog(t *testing.T) {
	tests := []struct {
		name       string
		pre        *int32 // partitions of a changelog created by hand, not compacted
		partitions int32
		wantErr    error
	}{
		{name: "new", partitions: 4},
		{name: "existing with another count", pre: ptr[int32](2), partitions: 4, wantErr: ErrPartitionMismatch},
		{name: "existing, not compacted", pre: ptr[int32](4), partitions: 4, wantErr: ErrNotCompacted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachCluster(t, func(t *testing.T, brokers []string) {
				a := newTestAdmin(t, brokers)
				group := uniquePrefix(t) + "-group"
				deleteAtCleanup(t, a, Changelog(group))
				if tc.pre != nil {
					preCreate(t, a, Changelog(group), *tc.pre, nil)
				}
				err := a.CreateChangelog(t.Context(), group, tc.partitions)
				if tc.wantErr != nil {
					require.ErrorIs(t, err, tc.wantErr)
					require.True(t, strings.HasPrefix(err.Error(), "topics: "), "got %q", err)
					return
				}
				require.NoError(t, err)
				// Idempotent.
				require.NoError(t, a.CreateChangelog(t.Context(), group, tc.partitions))
				infos, err := a.describe(t.Context(), []Topic{Changelog(group)})
				require.NoError(t, err)
				info := infos[Changelog(group)]
				if info.Partitions != tc.partitions || !info.Compacted() {
					t.Errorf("got %d partitions, cleanup.policy %q; want %d, compact", info.Partitions, info.CleanupPolicy, tc.partitions)
				}
				// A later start with another input count is refused.
				require.ErrorIs(t, a.CreateChangelog(t.Context(), group, tc.partitions+1), ErrPartitionMismatch)
			})
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestAdminCheckChangelog(t *testing.T) {
	compact := map[string]*string{cleanupPolicy: kadm.StringPtr(policyCompact)}
	tests := []struct {
		name       string
		pre        *int32             // partitions of a changelog created by hand, with preConfigs
		preConfigs map[string]*string // nil: the broker's default cleanup (delete)
		partitions int32
		want       TopicInfo
		wantErrs   []error
	}{
		{name: "missing", partitions: 4, wantErrs: []error{ErrMissingTopic}},
		{name: "right", pre: ptr[int32](4), preConfigs: compact, partitions: 4,
			want: TopicInfo{Partitions: 4, ReplicationFactor: 1, CleanupPolicy: "compact"}},
		{name: "another count", pre: ptr[int32](2), preConfigs: compact, partitions: 4,
			want: TopicInfo{Partitions: 2, ReplicationFactor: 1, CleanupPolicy: "compact"}, wantErrs: []error{ErrPartitionMismatch}},
		{name: "not compacted", pre: ptr[int32](4), partitions: 4,
			want: TopicInfo{Partitions: 4, ReplicationFactor: 1, CleanupPolicy: "delete"}, wantErrs: []error{ErrNotCompacted}},
		{name: "both", pre: ptr[int32](2), partitions: 4,
			want: TopicInfo{Partitions: 2, ReplicationFactor: 1, CleanupPolicy: "delete"}, wantErrs: []error{ErrPartitionMismatch, ErrNotCompacted}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachCluster(t, func(t *testing.T, brokers []string) {
				a := newTestAdmin(t, brokers)
				group := uniquePrefix(t) + "-group"
				deleteAtCleanup(t, a, Changelog(group))
				if tc.pre != nil {
					preCreate(t, a, Changelog(group), *tc.pre, tc.preConfigs)
				}
				got, err := a.CheckChangelog(t.Context(), group, tc.partitions)
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
				if len(tc.wantErrs) == 0 {
					require.NoError(t, err)
					return
				}
				for _, want := range tc.wantErrs {
					require.ErrorIs(t, err, want)
				}
				require.True(t, strings.HasPrefix(err.Error(), "topics: "), "got %q", err)
			})
		})
	}
	t.Run("creates nothing", func(t *testing.T) {
		forEachCluster(t, func(t *testing.T, brokers []string) {
			a := newTestAdmin(t, brokers)
			group := uniquePrefix(t) + "-group"
			deleteAtCleanup(t, a, Changelog(group))
			for range 2 {
				_, err := a.CheckChangelog(t.Context(), group, 4)
				require.ErrorIs(t, err, ErrMissingTopic)
			}
		})
	})
}

func TestCreateChangelogRejectsBadInput(t *testing.T) {
	a, err := NewAdmin([]string{"127.0.0.1:1"}) // never reached
	require.NoError(t, err)
	defer a.Close()
	require.ErrorIs(t, a.CreateChangelog(t.Context(), "a group", 4), ErrInvalidName)
	require.ErrorContains(t, a.CreateChangelog(t.Context(), "g", 0), "topics: changelog g-state: 0 partitions: want at least 1")
	_, err = a.CheckChangelog(t.Context(), "a group", 4)
	require.ErrorIs(t, err, ErrInvalidName)
	_, err = a.CheckChangelog(t.Context(), "g", 0)
	require.ErrorContains(t, err, "topics: changelog g-state: 0 partitions: want at least 1")
	require.ErrorIs(t, a.Create(t.Context(), Names{Clicks: "x y"}, TopicConfig{}), ErrInvalidName)
	require.ErrorContains(t, a.Create(t.Context(), Names{}, TopicConfig{Partitions: -1}), "topics: -1 partitions")
	require.ErrorContains(t, a.Create(t.Context(), Names{}, TopicConfig{ReplicationFactor: -2}), "topics: replication factor -2")
}

// produce writes n records to each of partitions of topic with manual
// partitioning, the i-th record of a partition stamped base + i minutes.
func produce(t *testing.T, brokers []string, topic Topic, counts map[int32]int, base time.Time) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer cl.Close()
	var rs []*kgo.Record
	for p, n := range counts {
		for i := range n {
			rs = append(rs, &kgo.Record{
				Topic: string(topic), Partition: p, Key: []byte("u1"),
				Value: []byte(`{"user_id":"u1","item_id":"i9"}`), Timestamp: base.Add(time.Duration(i) * time.Minute),
			})
		}
	}
	require.NoError(t, cl.ProduceSync(t.Context(), rs...).FirstErr())
}

func TestAdminOffsets(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{Partitions: 3}))
		// Recent times: a real broker may refuse timestamps far from its
		// clock (log.message.timestamp.*.max.ms).
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		produce(t, brokers, names.Clicks, map[int32]int{0: 5, 1: 2}, base)

		start, err := a.StartOffsets(t.Context(), names.Clicks)
		require.NoError(t, err)
		require.Equal(t, map[int32]int64{0: 0, 1: 0, 2: 0}, start)

		end, err := a.EndOffsets(t.Context(), names.Clicks)
		require.NoError(t, err)
		require.Equal(t, map[int32]int64{0: 5, 1: 2, 2: 0}, end)

		tests := []struct {
			name string
			at   time.Time
			want map[int32]int64
		}{
			{"before everything", base.Add(-time.Hour), map[int32]int64{0: 0, 1: 0, 2: 0}},
			{"exactly the first", base, map[int32]int64{0: 0, 1: 0, 2: 0}},
			{"between", base.Add(90 * time.Second), map[int32]int64{0: 2, 1: 2, 2: 0}},
			{"exactly the third", base.Add(2 * time.Minute), map[int32]int64{0: 2, 1: 2, 2: 0}},
			{"after everything: the end", base.Add(time.Hour), map[int32]int64{0: 5, 1: 2, 2: 0}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := a.OffsetsAt(t.Context(), names.Clicks, tc.at)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}

		for name, f := range map[string]func() (map[int32]int64, error){
			"start": func() (map[int32]int64, error) { return a.StartOffsets(t.Context(), names.Clicks+"-missing") },
			"end":   func() (map[int32]int64, error) { return a.EndOffsets(t.Context(), names.Clicks+"-missing") },
			"at":    func() (map[int32]int64, error) { return a.OffsetsAt(t.Context(), names.Clicks+"-missing", base) },
		} {
			got, err := f()
			if !errors.Is(err, ErrMissingTopic) {
				t.Errorf("%s offsets of a missing topic: got %v, %v, want ErrMissingTopic", name, got, err)
			}
		}
	})
}

func TestAdminLag(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, prefix := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{Partitions: 2}))
		produce(t, brokers, names.Clicks, map[int32]int{0: 5, 1: 3}, time.Now().Add(-time.Minute))
		produce(t, brokers, names.Purchases, map[int32]int{1: 1}, time.Now().Add(-time.Minute))

		// A group that has committed on clicks partition 0 only, as the
		// processor does after its store has the batch.
		group := prefix + "-group"
		var offs kadm.Offsets
		offs.Add(kadm.Offset{Topic: string(names.Clicks), Partition: 0, At: 2, LeaderEpoch: -1})
		resps, err := a.adm.CommitOffsets(t.Context(), group, offs)
		require.NoError(t, err)
		require.NoError(t, resps.Error())
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = a.adm.DeleteGroups(ctx, group)
		})

		tests := []struct {
			name   string
			group  string
			topics []Topic
			want   []PartitionLag
		}{
			{
				name:   "committed and not yet consumed topics",
				group:  group,
				topics: []Topic{names.Purchases, names.Clicks, names.Clicks},
				want: []PartitionLag{
					{Topic: names.Clicks, Partition: 0, Committed: 2, End: 5, Lag: 3},
					{Topic: names.Clicks, Partition: 1, Committed: -1, End: 3, Lag: 3},
					{Topic: names.Purchases, Partition: 0, Committed: -1, End: 0, Lag: 0},
					{Topic: names.Purchases, Partition: 1, Committed: -1, End: 1, Lag: 1},
				},
			},
			{
				name:  "no topics: the group's",
				group: group,
				want: []PartitionLag{
					{Topic: names.Clicks, Partition: 0, Committed: 2, End: 5, Lag: 3},
					{Topic: names.Clicks, Partition: 1, Committed: -1, End: 3, Lag: 3},
				},
			},
			{
				name:   "unknown group: everything",
				group:  prefix + "-nobody",
				topics: []Topic{names.Clicks},
				want: []PartitionLag{
					{Topic: names.Clicks, Partition: 0, Committed: -1, End: 5, Lag: 5},
					{Topic: names.Clicks, Partition: 1, Committed: -1, End: 3, Lag: 3},
				},
			},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := a.Lag(t.Context(), tc.group, tc.topics...)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}

		_, err = a.Lag(t.Context(), group, names.Clicks+"-missing")
		require.ErrorIs(t, err, ErrMissingTopic)
	})
}

func TestAdminCheckStream(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{Partitions: 2}))
		// The processor's topics exist; the catalogue and model topics of
		// another name set do not: CheckStream passes, Check does not.
		other := names
		other.Items, other.Models = names.Items+"-absent", names.Models+"-absent"
		_, err := a.CheckStream(t.Context(), other)
		require.NoError(t, err)
		_, err = a.Check(t.Context(), other)
		require.ErrorIs(t, err, ErrMissingTopic)
	})
}
