package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

// forget writes one erasure request per user, keyed by the user (so in
// the user's partition), and refuses a bad id before sending anything.
func TestForget(t *testing.T) {
	for name, brokers := range testClusters(t) {
		t.Run(name, func(t *testing.T) {
			sfx := fmt.Sprintf("-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), rand.Uint32())
			names := topics.DefaultNames().WithSuffix(sfx)
			deleteTopics(t, rawAdmin(t, brokers), names.All()...)
			adm, err := topics.NewAdmin(brokers)
			require.NoError(t, err)
			defer adm.Close()
			require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: 3}))
			forget := func(users ...string) (string, error) {
				var out, errOut bytes.Buffer
				args := append([]string{"--brokers", strings.Join(brokers, ","), "--erasures-topic", string(names.Erasures)}, users...)
				err := runForget(t.Context(), args, &out, &errOut)
				return out.String(), err
			}

			_, err = forget("ok-user", "bad\x07user")
			require.ErrorContains(t, err, "control character")
			_, err = forget()
			require.ErrorContains(t, err, "give the user ids")
			out, err := forget("u1", "u2", "u3")
			require.NoError(t, err)
			require.Contains(t, out, "sent 3 erasure requests")

			got := map[string]int{}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			for p := range 3 {
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: string(names.Erasures), Partition: p, MaxWait: 200 * time.Millisecond})
				for len(got) < 3 {
					rctx, stop := context.WithTimeout(ctx, time.Second)
					m, err := r.ReadMessage(rctx)
					stop()
					if err != nil {
						break // this partition has no more
					}
					e, err := topics.DecodeErasure(m.Key, m.Value, topics.Limits{})
					require.NoError(t, err)
					require.False(t, e.RequestedAt.IsZero())
					want := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: m.Key}, 0, 1, 2)
					require.Equal(t, want, p, "%s is in its user's partition", e.UserID)
					got[e.UserID]++
				}
				require.NoError(t, r.Close())
			}
			require.Equal(t, map[string]int{"u1": 1, "u2": 1, "u3": 1}, got, "one request each, and none of the refused call")
		})
	}
}
