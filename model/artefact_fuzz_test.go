package model

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

const fuzzReadCorpus = "testdata/fuzz/FuzzRead"

// fuzzReadSeeds are the inputs of the checked-in seed corpus of FuzzRead:
// the golden artefact and variants of it that stop at each kind of check.
func fuzzReadSeeds(golden []byte) map[string][]byte {
	flip := func(i int, x byte) []byte {
		b := bytes.Clone(golden)
		b[i] ^= x
		return b
	}
	tin := bytes.Index(golden, []byte(tagIn))
	return map[string][]byte{
		"golden":              golden,
		"empty":               {},
		"png":                 []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
		"truncated-magic":     golden[:5],
		"truncated-head":      golden[:40],
		"truncated-half":      golden[:len(golden)/2],
		"truncated-checksum":  golden[:len(golden)-2],
		"version-2":           flip(8, 3),
		"flipped-table":       flip(tin+12, 1),
		"nan-checksum-fixed":  fixArtefactChecksum(flip(tin+15, 0x7f)),
		"word-count-big":      flip(bytes.Index(golden, []byte(tagHead))+12+16, 0x40),
		"trailing-byte":       append(bytes.Clone(golden), 0),
		"info-version-length": fixArtefactChecksum(flip(bytes.Index(golden, []byte(tagInfo))+12, 1)),
	}
}

// TestFuzzReadCorpus keeps the checked-in seeds of FuzzRead in step with
// the golden artefact; -update rewrites them.
func TestFuzzReadCorpus(t *testing.T) {
	// The golden model's artefact, which TestArtefactGolden holds equal to
	// the golden file.
	for name, data := range fuzzReadSeeds(mustWriteArtefact(t, goldenArtefactModel())) {
		path := filepath.Join(fuzzReadCorpus, "seed-"+name)
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
		if *update {
			require.NoError(t, os.MkdirAll(fuzzReadCorpus, 0o755))
			require.NoError(t, os.WriteFile(path, want, 0o644))
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%s is out of date: go test -run TestFuzzReadCorpus -update", path)
	}
}

// FuzzRead checks that Read never panics, fails only with its documented
// errors, and that what it accepts is a model WriteTo writes back to the
// same bytes. Each input is also tried with its checksum made valid, so
// that the fuzzer reaches the checks behind the checksum.
func FuzzRead(f *testing.F) {
	golden, err := os.ReadFile(goldenArtefact)
	require.NoError(f, err)
	for _, data := range fuzzReadSeeds(golden) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzRead(t, data)
		if len(data) > 4 {
			checkFuzzRead(t, fixArtefactChecksum(data))
		}
	})
}

func checkFuzzRead(t *testing.T, data []byte) {
	t.Helper()
	m, err := Read(bytes.NewReader(data))
	if err != nil {
		if m != nil {
			t.Fatalf("Read returned a model and the error %v", err)
		}
		for _, target := range artefactErrors {
			if errors.Is(err, target) {
				return
			}
		}
		t.Fatalf("Read: unclassified error %v", err)
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatalf("Read accepted a model that WriteTo refuses: %v", err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("WriteTo of the model read does not reproduce the input:\ngot  %q\nwant %q", buf.Bytes(), data)
	}
	again, err := Read(&buf)
	require.NoError(t, err)
	require.Equal(t, m, again)
}
