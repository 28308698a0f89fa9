package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

// TestKeygen: keygen writes a key pair that train and run read back, the
// private key readable by its owner only, and overwrites no file.
func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keygen", "--out-private", private, "--out-public", public}, &out, &errOut), errOut.String())

	key, err := readSigningKey(private)
	require.NoError(t, err)
	pub, err := readVerifyKey(public)
	require.NoError(t, err)
	require.True(t, pub.Equal(key.Public()), "the public key is the private key's")
	require.Contains(t, out.String(), "key "+topics.ModelKeyID(pub))
	st, err := os.Stat(private)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "got mode %v, want 0600", st.Mode().Perm())

	m := topics.ModelManifest{Version: "m", Chunks: 1, Size: 1, SHA256: strings.Repeat("ab", 32)}
	require.NoError(t, m.Sign(key))
	require.NoError(t, m.Verify(pub))

	// Neither file is overwritten, and a refused pair leaves no half.
	before, err := os.ReadFile(private)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "private exists", args: []string{"--out-private", private, "--out-public", filepath.Join(dir, "new.pub")}, want: "file exists"},
		{name: "public exists", args: []string{"--out-private", filepath.Join(dir, "new"), "--out-public", public}, want: "file exists"},
		{name: "no public", args: []string{"--out-private", filepath.Join(dir, "new")}, want: "give both"},
		{name: "one file", args: []string{"--out-private", filepath.Join(dir, "new"), "--out-public", filepath.Join(dir, "new")}, want: "the same file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), append([]string{"keygen"}, tc.args...), &out, &errOut)
			require.ErrorContains(t, err, tc.want)
			_, err = os.Stat(filepath.Join(dir, "new"))
			require.ErrorIs(t, err, os.ErrNotExist, "no private key left without its public key")
			_, err = os.Stat(filepath.Join(dir, "new.pub"))
			require.ErrorIs(t, err, os.ErrNotExist)
		})
	}
	after, err := os.ReadFile(private)
	require.NoError(t, err)
	require.Equal(t, before, after, "the private key is not overwritten")
}

// TestRunRefusesBadSecretFiles: run stops at start on a verify key or a
// token file it cannot use, before it opens its store or reaches a
// broker; without --model-verify-key it warns once that models are not
// verified (here before it fails to open a store under a file).
func TestRunRefusesBadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keygen", "--out-private", private, "--out-public", public}, &out, &errOut), errOut.String())
	blank := filepath.Join(dir, "blank")
	require.NoError(t, os.WriteFile(blank, []byte(" \n\t\n"), 0o600))
	data := filepath.Join(dir, "data")

	for _, tc := range []struct {
		name string
		args []string
		want string
		warn bool // the not-verified warning is logged
	}{
		{name: "private key as verify key", args: []string{"--model-verify-key", private}, want: `--model-verify-key ` + private + `: topics: model verify key: a PEM block "PRIVATE KEY", want "PUBLIC KEY"`},
		{name: "no verify key file", args: []string{"--model-verify-key", filepath.Join(dir, "nope")}, want: "--model-verify-key: open"},
		{name: "no verify key: one warning", args: []string{"--data-dir", filepath.Join(blank, "data")}, want: "not a directory", warn: true},
		{name: "blank token file", args: []string{"--model-verify-key", public, "--api-token-file", blank}, want: "holds no token"},
		{name: "no token file", args: []string{"--api-token-file", filepath.Join(dir, "nope")}, want: "--api-token-file: open", warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(t.Context(), append([]string{"run", "--brokers", "127.0.0.1:1", "--data-dir", data}, tc.args...), &out, &errOut)
			require.ErrorContains(t, err, tc.want)
			_, statErr := os.Stat(data)
			require.ErrorIs(t, statErr, os.ErrNotExist, "the store is not opened")
			warning := "models from the models topic are not verified: set --model-verify-key"
			want := 0
			if tc.warn {
				want = 1
			}
			require.Equal(t, want, strings.Count(errOut.String(), warning), "the warning in:\n%s", errOut.String())
		})
	}
}

// TestTrainSignKeyErrors: train refuses --sign-key without --publish, and
// a key file that is no private key, before it reads the topics.
func TestTrainSignKeyErrors(t *testing.T) {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"keygen", "--out-private", private, "--out-public", public}, &out, &errOut), errOut.String())
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "without --publish", args: []string{"--sign-key", private}, want: "--sign-key is for --publish"},
		{name: "a public key", args: []string{"--publish", "--sign-key", public}, want: `--sign-key ` + public + `: topics: model signing key: a PEM block "PUBLIC KEY"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"train", "--brokers", "127.0.0.1:1", "--out", filepath.Join(dir, "m.bin")}, tc.args...)
			require.ErrorContains(t, run(t.Context(), args, &out, &errOut), tc.want)
		})
	}
}
