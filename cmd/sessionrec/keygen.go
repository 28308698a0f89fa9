package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sessionrec/sessionrec/topics"
)

// runKeygen writes a new Ed25519 key pair for signing models: the private
// key for train --publish --sign-key, the public key for run
// --model-verify-key.
func runKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		private = fs.String("out-private", "", "where to write the private key (PEM PKCS #8, mode 0600), for train --sign-key; an existing `file` is not overwritten")
		public  = fs.String("out-public", "", "where to write the public key (PEM PKIX), for run --model-verify-key; an existing `file` is not overwritten")
	)
	if err := parseWithEnv(fs, args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("keygen: unexpected argument %q", fs.Arg(0))
	case *private == "" || *public == "":
		return errors.New("keygen: give both --out-private and --out-public")
	case *private == *public:
		return errors.New("keygen: --out-private and --out-public name the same file")
	}
	_, key, err := ed25519.GenerateKey(nil) // crypto/rand
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	privPEM, pubPEM, err := topics.MarshalModelKeys(key)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := writeNewFile(*private, privPEM, 0o600); err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	if err := writeNewFile(*public, pubPEM, 0o644); err != nil {
		// Without its public half the private key signs nothing anyone
		// verifies: take it back rather than leave half a pair.
		return fmt.Errorf("keygen: %w", errors.Join(err, os.Remove(*private)))
	}
	fmt.Fprintf(stdout, "key %s: private key %s, public key %s\n",
		topics.ModelKeyID(key.Public().(ed25519.PublicKey)), *private, *public)
	return nil
}

// writeNewFile writes data to a file that must not exist yet, with mode
// perm (less the umask), and syncs it.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err // names the path; "file exists" for one there already
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write %s: %w", path, err), os.Remove(path))
	}
	return nil
}

// readSigningKey reads a private key file that keygen wrote.
func readSigningKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--sign-key: %w", err)
	}
	key, err := topics.ParseModelSigningKey(b)
	if err != nil {
		return nil, fmt.Errorf("--sign-key %s: %w", path, err)
	}
	return key, nil
}

// readVerifyKey reads a public key file that keygen wrote.
func readVerifyKey(path string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--model-verify-key: %w", err)
	}
	key, err := topics.ParseModelVerifyKey(b)
	if err != nil {
		return nil, fmt.Errorf("--model-verify-key %s: %w", path, err)
	}
	return key, nil
}
