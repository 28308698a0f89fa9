package topics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestReplayRanges(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{Partitions: 3}))
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		// Partition 0: records at base + 0..9 minutes; 1: + 0..3; 2: none.
		produce(t, brokers, names.Clicks, map[int32]int{0: 10, 1: 4}, base)

		tests := []struct {
			name        string
			from, until time.Time
			want        [][2]int64 // per partition, [From, To)
		}{
			{"everything", time.Time{}, time.Time{}, [][2]int64{{0, 10}, {0, 4}, {0, 0}}},
			{"from", base.Add(2 * time.Minute), time.Time{}, [][2]int64{{2, 10}, {2, 4}, {0, 0}}},
			{"until", time.Time{}, base.Add(150 * time.Second), [][2]int64{{0, 3}, {0, 3}, {0, 0}}},
			{"from and until", base.Add(time.Minute), base.Add(5 * time.Minute), [][2]int64{{1, 5}, {1, 4}, {0, 0}}},
			{"from after everything", base.Add(time.Hour), time.Time{}, [][2]int64{{10, 10}, {4, 4}, {0, 0}}},
			{"until before everything", time.Time{}, base.Add(-time.Hour), [][2]int64{{0, 0}, {0, 0}, {0, 0}}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := a.ReplayRanges(t.Context(), names.Clicks, tc.from, tc.until)
				require.NoError(t, err)
				require.Len(t, got, len(tc.want))
				for p, w := range tc.want {
					require.Equal(t, ReplayRange{Topic: names.Clicks, Partition: int32(p), From: w[0], To: w[1]}, got[p])
				}
			})
		}

		// A range is fixed when it is made: records written later, even
		// stamped inside it, are not read.
		ranges, err := a.ReplayRanges(t.Context(), names.Clicks, base.Add(3*time.Minute), time.Time{})
		require.NoError(t, err)
		produce(t, brokers, names.Clicks, map[int32]int{0: 2, 1: 2}, base.Add(4*time.Minute))
		for _, r := range ranges {
			var got []int64
			require.NoError(t, ReadRange(t.Context(), brokers, r, func(m kafka.Message) error {
				require.Equal(t, int(r.Partition), m.Partition)
				require.Equal(t, `{"user_id":"u1","item_id":"i9"}`, string(m.Value))
				got = append(got, m.Offset)
				return nil
			}))
			var want []int64
			for o := r.From; o < r.To; o++ {
				want = append(want, o)
			}
			require.Equal(t, want, got, "partition %d", r.Partition)
		}

		// fn's error ends the read and is returned as it is.
		stop := fmt.Errorf("stop")
		n := 0
		err = ReadRange(t.Context(), brokers, ranges[0], func(kafka.Message) error {
			n++
			return stop
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 1, n)

		_, err = a.ReplayRanges(t.Context(), names.Clicks+"-missing", time.Time{}, time.Time{})
		require.ErrorIs(t, err, ErrMissingTopic)
	})
}

// TestReadRangeEndsAtAGap checks that a range whose last offsets hold no
// record a consumer gets (here a transaction's commit marker, as a
// compacted-away tombstone would leave) ends instead of waiting for them.
func TestReadRangeEndsAtAGap(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		require.NoError(t, a.Create(t.Context(), names, TopicConfig{}))
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(string(names.Items)+"-txn"),
			kgo.DefaultProduceTopic(string(names.Items)))
		require.NoError(t, err)
		defer cl.Close()
		require.NoError(t, cl.BeginTransaction())
		require.NoError(t, cl.ProduceSync(t.Context(), &kgo.Record{Key: []byte("i1"), Value: []byte(`{"item_id":"i1"}`)}).FirstErr())
		require.NoError(t, cl.EndTransaction(t.Context(), kgo.TryCommit))

		// The commit marker is written once the commit returns, not
		// before: wait for it.
		var rs []ReplayRange
		require.Eventually(t, func() bool {
			rs, err = a.ReplayRanges(t.Context(), names.Items, time.Time{}, time.Time{})
			return err == nil && len(rs) == 1 && rs[0].To == 2
		}, 10*time.Second, 20*time.Millisecond, "the record and the commit marker: offsets 0 and 1")
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		var keys []string
		require.NoError(t, ReadRange(ctx, brokers, rs[0], func(m kafka.Message) error {
			keys = append(keys, string(m.Key))
			return nil
		}))
		require.Equal(t, []string{"i1"}, keys)
	})
}

func TestCheckReplay(t *testing.T) {
	forEachCluster(t, func(t *testing.T, brokers []string) {
		a := newTestAdmin(t, brokers)
		names, _ := uniqueNames(t, a)
		preCreate(t, a, names.Clicks, 2, nil)
		preCreate(t, a, names.Purchases, 2, nil)
		preCreate(t, a, names.Items, 1, map[string]*string{cleanupPolicy: kadm.StringPtr(policyCompact)})
		l, err := a.CheckReplay(t.Context(), names, false)
		require.NoError(t, err, "recommendations, dead letters and models are not needed")
		require.Equal(t, int32(2), l.Partitions)
		_, err = a.CheckReplay(t.Context(), names, true)
		var missing *MissingTopicsError
		require.ErrorAs(t, err, &missing)
		require.Equal(t, []Topic{names.Models}, missing.Topics)
	})
}
