package topics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSecurityConfigBuild(t *testing.T) {
	s, err := SecurityConfig{}.Build()
	require.NoError(t, err)
	require.Nil(t, s, "the zero config is plaintext")
	require.Equal(t, "plaintext", s.String())
	require.Nil(t, s.KgoOpts())
	require.Nil(t, s.Dialer().TLS)

	s, err = SecurityConfig{TLS: true}.Build()
	require.NoError(t, err)
	require.Equal(t, "TLS", s.String())
	require.NotNil(t, s.Dialer().TLS)
	require.NotNil(t, s.Transport().TLS)
	require.Len(t, s.KgoOpts(), 1)

	s, err = SecurityConfig{TLS: true, SASLMechanism: "scram-sha-512", SASLUser: "u", SASLPassword: "p"}.Build()
	require.NoError(t, err)
	require.Equal(t, "SASL_SSL (SCRAM-SHA-512)", s.String())
	require.NotNil(t, s.Dialer().SASLMechanism)
	require.Len(t, s.KgoOpts(), 2)

	s, err = SecurityConfig{SASLMechanism: "PLAIN", SASLUser: "u", SASLPassword: "p"}.Build()
	require.NoError(t, err)
	require.Equal(t, "SASL_PLAINTEXT (PLAIN)", s.String())

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	require.NoError(t, os.WriteFile(notPEM, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		cfg  SecurityConfig
		want string
	}{
		{"unknown mechanism", SecurityConfig{SASLMechanism: "GSSAPI", SASLUser: "u"}, `SASL mechanism "GSSAPI"`},
		{"no user", SecurityConfig{SASLMechanism: "SCRAM-SHA-256"}, "without a user"},
		{"password without mechanism", SecurityConfig{SASLPassword: "p"}, "without --sasl-mechanism"},
		{"CA file missing", SecurityConfig{CAFile: filepath.Join(dir, "none.pem")}, "TLS CA file"},
		{"CA file not PEM", SecurityConfig{CAFile: notPEM}, "no PEM certificate"},
		{"certificate without key", SecurityConfig{CertFile: notPEM}, "needs both --tls-cert and --tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.Build()
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// secureCluster returns the SASL_SSL listener of the test broker and what
// a client needs to reach it (make test starts it: deploy/kafka/kafka.sh
// with SESSIONREC_KAFKA_SECURE_PORT).
func secureCluster(t *testing.T) (brokers, plaintext []string, good SecurityConfig) {
	t.Helper()
	addr := os.Getenv("SESSIONREC_SECURE_BROKERS")
	require.NotEmpty(t, addr, "SESSIONREC_SECURE_BROKERS is not set: this test needs the secured broker (make test starts one)")
	plain := os.Getenv("SESSIONREC_BROKERS")
	require.NotEmpty(t, plain, "SESSIONREC_BROKERS is not set")
	pw, err := os.ReadFile(os.Getenv("SESSIONREC_KAFKA_SASL_PASSWORD_FILE"))
	require.NoError(t, err)
	return strings.Split(addr, ","), strings.Split(plain, ","), SecurityConfig{
		CAFile: os.Getenv("SESSIONREC_KAFKA_TLS_CA"), SASLMechanism: SASLScramSHA512,
		SASLUser: os.Getenv("SESSIONREC_KAFKA_SASL_USER"), SASLPassword: strings.TrimSpace(string(pw))}
}

// otherCA writes a CA certificate that signed nothing the broker has.
func otherCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "other-ca.pem")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}

// Every way of getting the connection wrong fails at once, with an error
// that names the cause.
func TestReachNamesTheCause(t *testing.T) {
	secure, plaintext, good := secureCluster(t)
	wrongPassword, unknownUser, untrusted := good, good, good
	wrongPassword.SASLPassword = "not-the-password"
	unknownUser.SASLUser = "nobody-of-that-name"
	untrusted.CAFile = otherCA(t)
	for _, tc := range []struct {
		name    string
		brokers []string
		cfg     SecurityConfig
		want    string // "" : reached
	}{
		{"SASL_SSL with SCRAM-SHA-512", secure, good, ""},
		{"a wrong password", secure, wrongPassword, "SASL authentication failed"},
		{"an unknown user", secure, unknownUser, "SASL authentication failed"},
		{"an untrusted CA", secure, untrusted, "not signed by a trusted CA: give the brokers' CA with --tls-ca"},
		{"plaintext against the TLS port", secure, SecurityConfig{}, "speaks TLS: add --tls"},
		{"TLS against the plaintext port", plaintext, SecurityConfig{CAFile: good.CAFile}, "does not speak TLS"},
		{"SASL against a listener without it", plaintext, SecurityConfig{SASLMechanism: SASLScramSHA512, SASLUser: "u", SASLPassword: "p"}, "does not take SASL_PLAINTEXT (SCRAM-SHA-512)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := tc.cfg.Build()
			require.NoError(t, err)
			adm, err := NewAdmin(tc.brokers, WithSecurity(sec))
			require.NoError(t, err)
			defer adm.Close()
			start := time.Now()
			err = adm.Reach(t.Context())
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrUnreachable)
			require.ErrorContains(t, err, tc.want)
			t.Logf("%s, after %s", err, time.Since(start).Round(time.Millisecond))
		})
	}
}
