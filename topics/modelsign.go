package topics

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
)

// A model manifest may be signed with an Ed25519 key, so that a reader
// serves only models its operator's key signed: anyone who can write to
// the models topic can publish chunks and a manifest whose SHA-256 matches
// them, but only the holder of the private key can sign that SHA-256. The
// signature covers the manifest's version, chunk count, size and SHA-256
// ([ModelManifest.SigningBytes]); the SHA-256 covers the artefact, which
// [ModelManifest.Assemble] checks, so a verified manifest and an assembled
// artefact together are what the key's holder published. PublishedAt and
// KeyID are not covered: they inform, and a reader decides nothing on
// them.
//
// Keys travel as PEM files: the private key as "PRIVATE KEY" (PKCS #8),
// the public key as "PUBLIC KEY" (PKIX), as openssl writes Ed25519 keys.

// ErrModelUnsigned is wrapped by the error of [ModelManifest.Verify] for
// a manifest that carries no signature.
var ErrModelUnsigned = errors.New("topics: model manifest is not signed")

// ErrModelSignature is wrapped by the error of [ModelManifest.Verify] for
// a signature that does not verify with the key: the manifest was changed
// after it was signed, or another key signed it.
var ErrModelSignature = errors.New("topics: model manifest signature does not verify")

// signingDomain starts the signed bytes, so that a signature over a
// manifest is never one over anything else the same key might sign.
const signingDomain = "sessionrec model manifest v1\n"

// SigningBytes returns the bytes a manifest's signature is over: the
// line "sessionrec model manifest v1", then one line each for the
// version, the chunk count, the size and the SHA-256 (as the manifest
// spells it, hex), each a name, a space and the value; the version and
// the SHA-256 are written as <length>:<bytes>, so that no two manifests
// give the same bytes whatever their version holds (a newline, say):
//
//	sessionrec model manifest v1
//	version 5:m-001
//	chunks 1
//	size 1234
//	sha256 64:9f86d081884c7d65...
//
// The result is the caller's.
func (m ModelManifest) SigningBytes() []byte {
	b := []byte(signingDomain)
	b = append(b, "version "...)
	b = appendCounted(b, m.Version)
	b = append(b, "\nchunks "...)
	b = strconv.AppendInt(b, int64(m.Chunks), 10)
	b = append(b, "\nsize "...)
	b = strconv.AppendInt(b, m.Size, 10)
	b = append(b, "\nsha256 "...)
	b = appendCounted(b, m.SHA256)
	return append(b, '\n')
}

// appendCounted appends s as <length>:<s>.
func appendCounted(b []byte, s string) []byte {
	b = strconv.AppendInt(b, int64(len(s)), 10)
	return append(append(b, ':'), s...)
}

// Sign signs the manifest with key: it sets Signature, over SigningBytes,
// and KeyID, the key's ModelKeyID. It fails on a key that is not an
// Ed25519 private key (ed25519.PrivateKeySize bytes).
func (m *ModelManifest) Sign(key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("topics: model signing key: %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, m.SigningBytes()))
	m.KeyID = ModelKeyID(key.Public().(ed25519.PublicKey))
	return nil
}

// Verify checks the manifest's signature with key: nil when key signed
// SigningBytes; an error that wraps ErrModelUnsigned when there is no
// signature, one that wraps ErrModelSignature when the signature does not
// verify (it names the manifest's KeyID when that is not key's).
func (m ModelManifest) Verify(key ed25519.PublicKey) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("topics: model verify key: %d bytes, want %d", len(key), ed25519.PublicKeySize)
	}
	if m.Signature == "" {
		return fmt.Errorf("%w: model %s", ErrModelUnsigned, brief(m.Version))
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: model %s: the signature is not %d bytes in base64", ErrModelSignature, brief(m.Version), ed25519.SignatureSize)
	}
	if ed25519.Verify(key, m.SigningBytes(), sig) {
		return nil
	}
	if want := ModelKeyID(key); m.KeyID != "" && m.KeyID != want {
		return fmt.Errorf("%w: model %s: signed with key %s, not the verify key %s", ErrModelSignature, brief(m.Version), brief(m.KeyID), want)
	}
	return fmt.Errorf("%w: model %s: altered since it was signed, or signed by another key", ErrModelSignature, brief(m.Version))
}

// ModelKeyID names a public key in manifests and logs: the first 8 bytes
// of the SHA-256 of its raw 32 bytes, in hex (16 digits).
func ModelKeyID(key ed25519.PublicKey) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// PEM block types of the key files.
const (
	pemPrivateKey = "PRIVATE KEY"
	pemPublicKey  = "PUBLIC KEY"
)

// MarshalModelKeys encodes a key pair as the PEM of the private key file
// (PKCS #8, "PRIVATE KEY") and of the public key file (PKIX, "PUBLIC
// KEY"). The results are the caller's.
func MarshalModelKeys(key ed25519.PrivateKey) (private, public []byte, err error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("topics: model signing key: %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("topics: model signing key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("topics: model verify key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPrivateKey, Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: pemPublicKey, Bytes: pubDER}), nil
}

// ParseModelSigningKey decodes a private key file: PEM "PRIVATE KEY"
// (PKCS #8) holding an Ed25519 key.
func ParseModelSigningKey(data []byte) (ed25519.PrivateKey, error) {
	der, err := pemBlock(data, pemPrivateKey)
	if err != nil {
		return nil, fmt.Errorf("topics: model signing key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("topics: model signing key: %w", err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("topics: model signing key: a %T, want an Ed25519 key", k)
	}
	return key, nil
}

// ParseModelVerifyKey decodes a public key file: PEM "PUBLIC KEY" (PKIX)
// holding an Ed25519 key.
func ParseModelVerifyKey(data []byte) (ed25519.PublicKey, error) {
	der, err := pemBlock(data, pemPublicKey)
	if err != nil {
		return nil, fmt.Errorf("topics: model verify key: %w", err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("topics: model verify key: %w", err)
	}
	key, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("topics: model verify key: a %T, want an Ed25519 key", k)
	}
	return key, nil
}

// pemBlock returns the bytes of the first PEM block of data, which must
// be of type typ.
func pemBlock(data []byte, typ string) ([]byte, error) {
	b, _ := pem.Decode(data)
	switch {
	case b == nil:
		return nil, fmt.Errorf("no PEM block, want %q", typ)
	case b.Type != typ:
		return nil, fmt.Errorf("a PEM block %q, want %q", b.Type, typ)
	}
	return b.Bytes, nil
}
