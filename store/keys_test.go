package store

import (
	"bytes"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUserKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		partition int32
		user      string
	}{{0, "u1"}, {7, ""}, {math.MaxInt32, "ü\x00x"}} {
		got, err := parseUserKey(userKey(tc.partition, tc.user), tc.partition)
		require.NoError(t, err)
		require.Equal(t, tc.user, got)
		_, err = parseUserKey(userKey(tc.partition, tc.user), tc.partition+1)
		require.Error(t, err, "a key of another partition")
	}
}

func TestExpiryKeyRoundTripAndOrder(t *testing.T) {
	times := []int64{math.MinInt64, -5, 0, 1, 1_700_000_000_000, math.MaxInt64}
	var prev []byte
	for _, ms := range times {
		k := expiryKey(3, ms, "user")
		p, gotMs, id, err := parseExpiryKey(k)
		require.NoError(t, err)
		require.Equal(t, int32(3), p)
		require.Equal(t, ms, gotMs)
		require.Equal(t, "user", id)
		if prev != nil {
			require.Negative(t, bytes.Compare(prev, k), "keys sort by time: %d", ms)
		}
		prev = k
	}
}

func TestPartitionBounds(t *testing.T) {
	for _, p := range []int32{0, 1, 255, 256, math.MaxInt32} {
		lo, hi := partitionBounds(prefixUser, p)
		for _, id := range []string{"", "a", "\xff\xff\xff"} {
			k := userKey(p, id)
			require.True(t, bytes.Compare(lo, k) <= 0 && bytes.Compare(k, hi) < 0, "partition %d user %q inside", p, id)
		}
		if p > 0 {
			require.Negative(t, bytes.Compare(userKey(p-1, "\xff\xff"), lo), "partition %d: the previous partition is outside", p)
		}
		if p < math.MaxInt32 {
			require.GreaterOrEqual(t, bytes.Compare(userKey(p+1, ""), hi), 0, "partition %d: the next partition is outside", p)
		}
	}
}
