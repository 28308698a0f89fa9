package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sessionrec/sessionrec/topics"
)

// securityFlags are how every command that talks to Kafka reaches a
// secured cluster: the same flags, and SESSIONREC_* variables, on run,
// produce, topics, train and bench. The SASL password is never a flag of
// its own: it comes from --sasl-password-file or SESSIONREC_SASL_PASSWORD.
type securityFlags struct {
	cfg          topics.SecurityConfig
	passwordFile string
}

func (f *securityFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.cfg.TLS, "tls", false, "TLS to the brokers, with the system's root CAs (see --tls-ca)")
	fs.StringVar(&f.cfg.CAFile, "tls-ca", "", "PEM file of the CAs the brokers' certificates must chain to (implies --tls)")
	fs.StringVar(&f.cfg.CertFile, "tls-cert", "", "PEM client certificate, for brokers that authenticate clients by certificate (with --tls-key)")
	fs.StringVar(&f.cfg.KeyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&f.cfg.ServerName, "tls-server-name", "", "the name the brokers' certificates must carry (default: the host dialled)")
	fs.StringVar(&f.cfg.SASLMechanism, "sasl-mechanism", "", "SASL authentication: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)")
	fs.StringVar(&f.cfg.SASLUser, "sasl-user", "", "SASL user")
	fs.StringVar(&f.passwordFile, "sasl-password-file", "", "file holding the SASL password (or set SESSIONREC_SASL_PASSWORD)")
}

// set reports whether any of the flags is set (the password's variable
// included).
func (f *securityFlags) set() bool {
	_, env := os.LookupEnv("SESSIONREC_SASL_PASSWORD")
	return f.cfg != (topics.SecurityConfig{}) || f.passwordFile != "" || env
}

// build returns the Security the flags say, nil for plaintext.
func (f *securityFlags) build() (*topics.Security, error) {
	cfg := f.cfg
	env, fromEnv := os.LookupEnv("SESSIONREC_SASL_PASSWORD")
	switch {
	case f.passwordFile != "" && fromEnv:
		return nil, errors.New("both --sasl-password-file and SESSIONREC_SASL_PASSWORD are set: use one")
	case f.passwordFile != "":
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--sasl-password-file: %w", err)
		}
		cfg.SASLPassword = strings.TrimRight(string(b), "\r\n")
	case fromEnv:
		cfg.SASLPassword = env
	}
	return cfg.Build()
}

// admin builds the Security and an admin client with it, and checks that
// the brokers take it (topics.Admin.Reach): a refused password or an
// untrusted CA fails at once, named. The caller closes the admin.
func (f *securityFlags) admin(ctx context.Context, brokers []string) (*topics.Admin, *topics.Security, error) {
	sec, err := f.build()
	if err != nil {
		return nil, nil, err
	}
	adm, err := topics.NewAdmin(brokers, topics.WithSecurity(sec))
	if err != nil {
		return nil, nil, err
	}
	if err := adm.Reach(ctx); err != nil {
		adm.Close()
		return nil, nil, err
	}
	return adm, sec, nil
}

// reach is admin for a command that needs no admin client of its own.
func (f *securityFlags) reach(ctx context.Context, brokers []string) (*topics.Security, error) {
	adm, sec, err := f.admin(ctx, brokers)
	if err != nil {
		return nil, err
	}
	adm.Close()
	return sec, nil
}
