package store

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func sampleState() *UserState {
	return &UserState{
		SessionID:   "u1-1700000000000",
		LastEventMs: 1_700_000_123_000,
		Events: []Event{
			{ItemID: "cat-food-1", TimeMs: 1_700_000_000_000, Kind: Click},
			{ItemID: "cat-food-2", TimeMs: 1_700_000_060_000, Kind: Click, EventID: "e2"},
			{ItemID: "cat-toy-1", TimeMs: 1_700_000_123_000, Kind: Purchase, EventID: "e3"},
		},
		Past: []PastIntent{{
			ID: "dog-food-1", Items: []string{"dog-food-1", "dog-food-9"},
			Centroid: []float32{0.6, -0.8, 0}, Coherence: 0.93, Weight: 0.7, LastSeenMs: 1_699_000_000_000,
		}},
		PublishedSig: 0xdeadbeefcafef00d,
		Applied:      17,
		Sessions:     4,
		ClosedIDs:    []ClosedID{{ID: "e0", TimeMs: 1_699_999_000_000}, {ID: "e1", TimeMs: 1_699_999_100_000}},
		Exposures: []Exposure{
			{AtMs: 1_700_000_060_000, Version: "m-2", Arm: "B", Items: []string{"cat-food-3", "cat-toy-2"}},
			{AtMs: 1_700_000_000_000, Version: "m-1", Items: []string{"cat-food-2"}},
		},
	}
}

func TestUserStateRoundTrip(t *testing.T) {
	for _, s := range []*UserState{{}, sampleState()} {
		b := AppendUserState(nil, s)
		got, err := DecodeUserState(b)
		require.NoError(t, err)
		require.Equal(t, s, got)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	c := Checkpoint{Offsets: map[string]int64{"clicks": 42, "purchases": 0}, WatermarkMs: -1, Changelog: 9}
	got, err := DecodeCheckpoint(AppendCheckpoint(nil, c))
	require.NoError(t, err)
	require.Equal(t, c, got)
	require.Equal(t, AppendCheckpoint(nil, c), AppendCheckpoint(nil, c), "deterministic encoding")
}

// TestGolden pins the encodings: a change to the format must change the
// version byte, and this test says so.
func TestGolden(t *testing.T) {
	for _, g := range []struct {
		file string
		b    []byte
	}{
		{"user-state-v3.golden", AppendUserState(nil, sampleState())},
		{"checkpoint-v1.golden", AppendCheckpoint(nil, Checkpoint{Offsets: map[string]int64{"clicks": 42, "purchases": 7}, WatermarkMs: 1_700_000_000_000, Changelog: 3})},
	} {
		path := filepath.Join("testdata", g.file)
		if *update {
			require.NoError(t, os.WriteFile(path, g.b, 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./store -update to write %s", path)
		require.True(t, bytes.Equal(want, g.b), "%s: encoding changed: got %x want %x", g.file, g.b, want)
	}
}

// A state written by the previous version (without ClosedIDs) still
// decodes: a store is upgraded in place, one user at a time as it is
// written again.
func TestDecodeUserStateV1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "user-state-v1.golden"))
	require.NoError(t, err)
	got, err := DecodeUserState(b)
	require.NoError(t, err)
	want := sampleState()
	want.ClosedIDs, want.Exposures = nil, nil
	require.Equal(t, want, got)
}

// A state written by version 2 (without Exposures) still decodes.
func TestDecodeUserStateV2(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "user-state-v2.golden"))
	require.NoError(t, err)
	got, err := DecodeUserState(b)
	require.NoError(t, err)
	want := sampleState()
	want.Exposures = nil
	require.Equal(t, want, got)
}

func TestDecodeRejectsDamage(t *testing.T) {
	b := AppendUserState(nil, sampleState())
	for n := range len(b) {
		_, err := DecodeUserState(b[:n])
		require.ErrorIs(t, err, ErrCorrupt, "truncated at %d", n)
	}
	_, err := DecodeUserState(append(append([]byte(nil), b...), 0))
	require.ErrorIs(t, err, ErrCorrupt, "trailing byte")
	bad := append([]byte(nil), b...)
	bad[0] = 9
	_, err = DecodeUserState(bad)
	require.ErrorIs(t, err, ErrCorrupt, "unknown version")
	_, err = DecodeCheckpoint([]byte{checkpointV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	require.ErrorIs(t, err, ErrCorrupt, "absurd count")
}

func FuzzDecodeUserState(f *testing.F) {
	f.Add(AppendUserState(nil, sampleState()))
	f.Add(AppendUserState(nil, &UserState{}))
	f.Add([]byte{userStateV1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeUserState(b)
		if err != nil {
			return
		}
		again, err := DecodeUserState(AppendUserState(nil, s))
		if err != nil {
			t.Fatalf("re-encoded state does not decode: %v", err)
		}
		if !bytes.Equal(AppendUserState(nil, s), AppendUserState(nil, again)) {
			t.Fatalf("round trip changed the state")
		}
	})
}
