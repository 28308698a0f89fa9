package topics

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	kafkasasl "github.com/segmentio/kafka-go/sasl"
	kafkaplain "github.com/segmentio/kafka-go/sasl/plain"
	kafkascram "github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL mechanisms SecurityConfig.SASLMechanism names.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SecurityConfig says how the clients reach a secured cluster: TLS, and
// SASL authentication. The zero value is plaintext without
// authentication. Build turns it into a Security, the one place both
// client libraries' dialers and transports come from.
type SecurityConfig struct {
	// TLS turns TLS on, with the system's roots unless CAFile is set.
	TLS bool
	// CAFile is a PEM file of the CAs the brokers' certificates must
	// chain to; it implies TLS.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its key, for
	// brokers that authenticate clients by certificate; they imply TLS.
	CertFile, KeyFile string
	// ServerName is the name the brokers' certificates must carry;
	// default the host of the address dialled.
	ServerName string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no
	// SASL.
	SASLMechanism string
	// SASLUser and SASLPassword are the SASL credentials.
	SASLUser, SASLPassword string
}

// Security is a built SecurityConfig: the TLS configuration and the SASL
// mechanism of both client libraries. A nil *Security is plaintext
// without authentication. It is safe for concurrent use.
type Security struct {
	tls       *tls.Config
	mechanism string
	kafkaMech kafkasasl.Mechanism // kafka-go's
	kgoMech   sasl.Mechanism      // franz-go's
}

// Build reads the files c names and returns the Security, or an error
// naming what is wrong (a file that does not read, a certificate that
// does not parse, an unknown mechanism, a mechanism without a user). A
// zero c builds nil: plaintext.
func (c SecurityConfig) Build() (*Security, error) {
	useTLS := c.TLS || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
	if !useTLS && c.SASLMechanism == "" {
		if c.SASLUser != "" || c.SASLPassword != "" {
			return nil, errors.New("topics: a SASL user or password without --sasl-mechanism")
		}
		return nil, nil
	}
	s := &Security{}
	if useTLS {
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("topics: TLS CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("topics: TLS CA file %s: no PEM certificate in it", c.CAFile)
			}
			s.tls.RootCAs = pool
		}
		if (c.CertFile == "") != (c.KeyFile == "") {
			return nil, errors.New("topics: a TLS client certificate needs both --tls-cert and --tls-key")
		}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("topics: TLS client certificate: %w", err)
			}
			s.tls.Certificates = []tls.Certificate{cert}
		}
	}
	if c.SASLMechanism == "" {
		return s, nil
	}
	if c.SASLUser == "" {
		return nil, fmt.Errorf("topics: SASL %s without a user (--sasl-user)", c.SASLMechanism)
	}
	s.mechanism = strings.ToUpper(c.SASLMechanism)
	switch s.mechanism {
	case SASLPlain:
		s.kafkaMech = kafkaplain.Mechanism{Username: c.SASLUser, Password: c.SASLPassword}
		s.kgoMech = plain.Auth{User: c.SASLUser, Pass: c.SASLPassword}.AsMechanism()
	case SASLScramSHA256, SASLScramSHA512:
		algo, auth := kafkascram.SHA256, scram.Auth{User: c.SASLUser, Pass: c.SASLPassword}
		s.kgoMech = auth.AsSha256Mechanism()
		if s.mechanism == SASLScramSHA512 {
			algo, s.kgoMech = kafkascram.SHA512, auth.AsSha512Mechanism()
		}
		m, err := kafkascram.Mechanism(algo, c.SASLUser, c.SASLPassword)
		if err != nil {
			return nil, fmt.Errorf("topics: SASL %s: %w", s.mechanism, err)
		}
		s.kafkaMech = m
	default:
		return nil, fmt.Errorf("topics: SASL mechanism %q: want %s, %s or %s", c.SASLMechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	return s, nil
}

// String says what s is, for logs: "plaintext", "TLS", "SASL_SSL
// (SCRAM-SHA-512)", "SASL_PLAINTEXT (PLAIN)".
func (s *Security) String() string {
	switch {
	case s == nil:
		return "plaintext"
	case s.mechanism == "":
		return "TLS"
	case s.tls != nil:
		return "SASL_SSL (" + s.mechanism + ")"
	default:
		return "SASL_PLAINTEXT (" + s.mechanism + ")"
	}
}

// dialTimeout bounds a connection's dial, TLS handshake included.
const dialTimeout = 10 * time.Second

// Dialer returns a kafka-go dialer for readers and consumer groups.
func (s *Security) Dialer() *kafka.Dialer {
	d := &kafka.Dialer{Timeout: dialTimeout, DualStack: true}
	if s != nil {
		d.TLS, d.SASLMechanism = s.tlsConfig(), s.kafkaMech
	}
	return d
}

// Transport returns a new kafka-go transport for writers and clients; each
// caller gets its own (a transport caches topic metadata).
func (s *Security) Transport() *kafka.Transport {
	t := &kafka.Transport{}
	if s != nil {
		t.TLS, t.SASL = s.tlsConfig(), s.kafkaMech
	}
	return t
}

// KgoOpts returns the franz-go client options.
func (s *Security) KgoOpts() []kgo.Opt {
	if s == nil {
		return nil
	}
	var opts []kgo.Opt
	if s.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(s.tlsConfig()))
	}
	if s.kgoMech != nil {
		opts = append(opts, kgo.SASL(s.kgoMech))
	}
	return opts
}

func (s *Security) tlsConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.Clone()
}

// ClientOption configures a Kafka client this package makes (NewAdmin,
// NewProducer, ReadRange, PublishModel, PruneModels).
type ClientOption func(*clientOptions)

type clientOptions struct{ sec *Security }

// WithSecurity makes the client reach the cluster with s: TLS, SASL, or
// (nil) neither.
func WithSecurity(s *Security) ClientOption {
	return func(o *clientOptions) { o.sec = s }
}

func applyOptions(opts []ClientOption) clientOptions {
	var o clientOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// ErrUnreachable wraps Reach's errors.
var ErrUnreachable = errors.New("topics: cannot reach the brokers")

// Reach asks the brokers for their API versions, once, and returns an
// error that names the cause when that fails: credentials the brokers
// refuse (a wrong password or an unknown user: the brokers do not say
// which), a certificate no trusted CA signed, a TLS client at a plaintext
// listener or the reverse, SASL at a listener without it, or no broker
// answering. Commands call it first, so that a misconfigured client fails
// at once rather than retrying for minutes.
func (a *Admin) Reach(ctx context.Context) error {
	err := a.cl.Ping(ctx)
	if err == nil {
		return nil
	}
	at := strings.Join(a.brokers, ",")
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var firstEOF *kgo.ErrFirstReadEOF
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		err = fmt.Errorf("SASL authentication failed at %s (%s): a wrong password or an unknown user: %w", at, a.sec, err)
	case errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism):
		err = fmt.Errorf("the listener at %s does not take %s: is it a SASL listener, with that mechanism enabled? %w", at, a.sec, err)
	case errors.As(err, &unknownCA):
		err = fmt.Errorf("the TLS certificate of %s is not signed by a trusted CA: give the brokers' CA with --tls-ca: %w", at, err)
	case errors.As(err, &hostname):
		err = fmt.Errorf("the TLS certificate of %s is not for that name: set --tls-server-name to a name it holds: %w", at, err)
	case errors.As(err, &firstEOF) && a.sec != nil && a.sec.tls != nil:
		err = fmt.Errorf("the listener at %s does not speak TLS (a plaintext listener?): use its TLS port, or drop --tls: %w", at, err)
	case a.sec == nil || a.sec.tls == nil:
		if strings.Contains(err.Error(), "speaking to a tls endpoint") { // kgo's words; the error has no type
			err = fmt.Errorf("the listener at %s speaks TLS: add --tls (and --tls-ca for a private CA): %w", at, err)
		}
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}
