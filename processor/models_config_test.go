package processor

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestMaxModelBytesConfig: Config.MaxModelBytes takes its default, refuses
// a negative bound, and is the model follower's bound.
func TestMaxModelBytesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  int64
		want int64
		err  string
	}{
		{name: "default", set: 0, want: topics.DefaultMaxModelBytes},
		{name: "set", set: 5 << 20, want: 5 << 20},
		{name: "negative", set: -1, err: "max model bytes -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			p, err := New(Config{Brokers: []string{"localhost:1"}, MaxModelBytes: tc.set}, db)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			got := newModelFollower(p.views).maxBytes
			require.Equal(t, tc.want, got, "got a bound of %d, want %d", got, tc.want)
		})
	}
}

// TestModelVerifyKeyConfig: Config.ModelVerifyKey is the model follower's
// key; one that is not an Ed25519 public key is refused, not left to
// panic at the first manifest.
func TestModelVerifyKeyConfig(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name string
		key  ed25519.PublicKey
		err  string
	}{
		{name: "none"},
		{name: "set", key: key},
		{name: "short", key: key[:31], err: "model verify key: 31 bytes, want 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
			require.NoError(t, err)
			defer func() { require.NoError(t, db.Close()) }()
			p, err := New(Config{Brokers: []string{"localhost:1"}, ModelVerifyKey: tc.key}, db)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			got := newModelFollower(p.views).verifyKey
			require.True(t, tc.key.Equal(got), "got key %x, want %x", got, tc.key)
		})
	}
}
