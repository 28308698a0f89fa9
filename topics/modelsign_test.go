package topics

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testKey is a fixed Ed25519 key: seed byte b repeated.
func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// TestModelManifestSignature: a signed manifest verifies with its key,
// also after a JSON round trip; a change to any signed field, another
// key, no signature or a garbled one does not, with the sentinel that
// says which.
func TestModelManifestSignature(t *testing.T) {
	key, other := testKey(1), testKey(2)
	pub := key.Public().(ed25519.PublicKey)
	signed := ModelManifest{Version: "m-1", Chunks: 2, Size: ModelChunkSize + 10, SHA256: strings.Repeat("ab", 32),
		PublishedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	require.NoError(t, signed.Sign(key))
	require.Equal(t, ModelKeyID(pub), signed.KeyID)
	otherSigned := signed
	require.NoError(t, otherSigned.Sign(other))

	for _, tc := range []struct {
		name   string
		change func(m *ModelManifest)
		key    ed25519.PublicKey
		want   error // nil: verifies
		msg    string
	}{
		{name: "good", change: func(*ModelManifest) {}},
		{name: "published_at is not signed", change: func(m *ModelManifest) { m.PublishedAt = m.PublishedAt.Add(time.Hour) }},
		{name: "version changed", change: func(m *ModelManifest) { m.Version = "m-2" }, want: ErrModelSignature},
		{name: "chunks changed", change: func(m *ModelManifest) { m.Chunks = 3 }, want: ErrModelSignature},
		{name: "size changed", change: func(m *ModelManifest) { m.Size-- }, want: ErrModelSignature},
		{name: "sha256 changed", change: func(m *ModelManifest) { m.SHA256 = strings.Repeat("cd", 32) }, want: ErrModelSignature},
		{name: "sha256 in upper case", change: func(m *ModelManifest) { m.SHA256 = strings.ToUpper(m.SHA256) }, want: ErrModelSignature},
		{name: "wrong key", key: other.Public().(ed25519.PublicKey), change: func(*ModelManifest) {}, want: ErrModelSignature,
			msg: "signed with key \"" + ModelKeyID(pub) + "\", not the verify key " + ModelKeyID(other.Public().(ed25519.PublicKey))},
		{name: "another key's signature under this key's id", change: func(m *ModelManifest) {
			m.Signature = otherSigned.Signature
		}, want: ErrModelSignature},
		{name: "unsigned", change: func(m *ModelManifest) { m.Signature, m.KeyID = "", "" }, want: ErrModelUnsigned},
		{name: "signature not base64", change: func(m *ModelManifest) { m.Signature = "not base64!" }, want: ErrModelSignature},
		{name: "signature too short", change: func(m *ModelManifest) {
			m.Signature = base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize-1))
		}, want: ErrModelSignature},
		{name: "signature flipped", change: func(m *ModelManifest) {
			sig, _ := base64.StdEncoding.DecodeString(m.Signature)
			sig[10] ^= 1
			m.Signature = base64.StdEncoding.EncodeToString(sig)
		}, want: ErrModelSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Through JSON, as a reader gets it.
			b, err := json.Marshal(signed)
			require.NoError(t, err)
			m, err := DecodeModelManifest("m-1", b, DefaultMaxModelBytes)
			require.NoError(t, err)
			tc.change(&m)
			k := tc.key
			if k == nil {
				k = pub
			}
			err = m.Verify(k)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want, "got %v, want %v", err, tc.want)
			if tc.msg != "" {
				require.ErrorContains(t, err, tc.msg)
			}
		})
	}
}

// TestModelSigningBytes pins the signed bytes (a change to them makes
// every published signature fail) and shows that they tell apart
// manifests whose fields would run together.
func TestModelSigningBytes(t *testing.T) {
	m := ModelManifest{Version: "m-001", Chunks: 1, Size: 1234, SHA256: strings.Repeat("0", 64), PublishedAt: time.Now()}
	require.Equal(t, "sessionrec model manifest v1\nversion 5:m-001\nchunks 1\nsize 1234\nsha256 64:"+strings.Repeat("0", 64)+"\n",
		string(m.SigningBytes()))

	a := ModelManifest{Version: "m\nchunks 1", Chunks: 2, Size: 3, SHA256: "x"}
	b := ModelManifest{Version: "m", Chunks: 1, Size: 3, SHA256: "x"}
	require.NotEqual(t, a.SigningBytes(), b.SigningBytes())
}

// TestModelKeyFiles: the key files keygen writes read back to the pair;
// a file of another PEM type or another algorithm is refused.
func TestModelKeyFiles(t *testing.T) {
	key := testKey(3)
	private, public, err := MarshalModelKeys(key)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(private), "-----BEGIN PRIVATE KEY-----\n"), "got %q", private)
	require.True(t, strings.HasPrefix(string(public), "-----BEGIN PUBLIC KEY-----\n"), "got %q", public)

	gotKey, err := ParseModelSigningKey(private)
	require.NoError(t, err)
	require.True(t, key.Equal(gotKey), "the private key read back")
	gotPub, err := ParseModelVerifyKey(public)
	require.NoError(t, err)
	require.True(t, key.Public().(ed25519.PublicKey).Equal(gotPub), "the public key read back")

	ec, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	ecPubDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	require.NoError(t, err)
	block := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	for _, tc := range []struct {
		name  string
		parse func([]byte) error
		data  []byte
		want  string
	}{
		{name: "public key as private", parse: signing, data: public, want: `a PEM block "PUBLIC KEY", want "PRIVATE KEY"`},
		{name: "private key as public", parse: verify, data: private, want: `a PEM block "PRIVATE KEY", want "PUBLIC KEY"`},
		{name: "no PEM", parse: verify, data: []byte("ssh-ed25519 AAAA"), want: "no PEM block"},
		{name: "ECDSA private key", parse: signing, data: block("PRIVATE KEY", ecDER), want: "want an Ed25519 key"},
		{name: "ECDSA public key", parse: verify, data: block("PUBLIC KEY", ecPubDER), want: "want an Ed25519 key"},
		{name: "garbage DER", parse: verify, data: block("PUBLIC KEY", []byte("nope")), want: "model verify key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse(tc.data)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func signing(b []byte) error { _, err := ParseModelSigningKey(b); return err }
func verify(b []byte) error  { _, err := ParseModelVerifyKey(b); return err }

// TestModelSignBadKeys: keys of the wrong length are errors, not panics
// (ed25519.Sign and Verify panic on them).
func TestModelSignBadKeys(t *testing.T) {
	var m ModelManifest
	require.ErrorContains(t, m.Sign(make(ed25519.PrivateKey, 10)), "10 bytes, want 64")
	m.Signature = "x"
	require.ErrorContains(t, m.Verify(make(ed25519.PublicKey, 10)), "10 bytes, want 32")
	_, _, err := MarshalModelKeys(nil)
	require.Error(t, err)
}

// A publisher signs a manifest with its private key; a reader verifies it
// with the public key before it reads the chunks.
func ExampleModelManifest_Verify() {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	m := ModelManifest{Version: "m-1", Chunks: 1, Size: 3, SHA256: strings.Repeat("ab", 32)}
	if err := m.Sign(key); err != nil {
		panic(err)
	}
	fmt.Println(m.Verify(key.Public().(ed25519.PublicKey)))
	m.Size = 4
	err := m.Verify(key.Public().(ed25519.PublicKey))
	fmt.Println(errors.Is(err, ErrModelSignature))
	// Output:
	// <nil>
	// true
}
