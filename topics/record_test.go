package topics

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got, indented, with testdata/name, or rewrites the file
// with -update. The files are indented so that they read as the schema's
// examples.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Indent(&buf, got, "", "  "))
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		t.Logf("rewrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./topics/ -run %s -update to create it", t.Name())
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("got (indented)\n%s\nwant (%s)\n%s\nrun with -update if the change is intended: the schema is public", buf.Bytes(), path, want)
	}
}

// goldenRecommendation is the example of the schema documented on
// Recommendation.
func goldenRecommendation() Recommendation {
	cet := time.FixedZone("CET", 3600)
	return Recommendation{
		UserID:    "u42",
		SessionID: "u42/1772366400000",
		Intents: []Intent{
			{ID: "cat-food-1", Items: []string{"cat-food-1", "cat-food-2"}, Coherence: 0.91, Weight: 0.7, Current: true},
			{ID: "toy-7", Items: []string{"toy-7"}, Coherence: 1, Weight: 0.3, Past: true},
		},
		Items: []RecommendedItem{
			{ItemID: "cat-food-3", Score: 0.9, Intent: "cat-food-1", Vector: 0.63, Neighbours: 0.8},
			{ItemID: "toy-8", Score: 0.5, Intent: "toy-7", Vector: 0.21, Neighbours: 1},
		},
		Knobs: Knobs{
			K: 2, History: 0.3, HalfLifeSeconds: 86400, Neighbours: 0.5,
			ExcludeSeen: true, ExcludePurchased: true,
		},
		ModelVersion: "m-20260301-01",
		Source: Source{
			Topic: Clicks, Partition: 3, Offset: 1234,
			EventTime: time.Date(2026, 3, 1, 13, 0, 0, 250e6, cet),
		},
		ProducedAt: time.Date(2026, 3, 1, 12, 0, 0, 310e6, time.UTC),
	}
}

func TestRecommendationGolden(t *testing.T) {
	r := goldenRecommendation()
	b, err := r.Encode()
	require.NoError(t, err)
	golden(t, "recommendation.golden.json", b)

	file, err := os.ReadFile(filepath.Join("testdata", "recommendation.golden.json"))
	require.NoError(t, err)
	got, err := DecodeRecommendation(file)
	require.NoError(t, err)
	want := r
	want.Source.EventTime = want.Source.EventTime.UTC()
	require.Equal(t, want, got)
}

func TestRecommendationEncodeEmpty(t *testing.T) {
	r := Recommendation{UserID: "u1", Intents: []Intent{{ID: "a"}}}
	b, err := r.Encode()
	require.NoError(t, err)
	for _, want := range []string{`"items":[]`, `"intents":[{"id":"a","items":[]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("got %s, want it to contain %s", b, want)
		}
	}
	if r.Intents[0].Items != nil {
		t.Errorf("Encode changed the caller's intent: got items %v, want nil", r.Intents[0].Items)
	}
}

func TestRecommendationEncodeRejectsNaN(t *testing.T) {
	r := goldenRecommendation()
	r.Items[0].Score = math.NaN()
	_, err := r.Encode()
	require.ErrorContains(t, err, `topics: encode recommendation for user "u42": `)
}

func TestDecodeRecommendationRejects(t *testing.T) {
	valid, err := goldenRecommendation().Encode()
	require.NoError(t, err)
	s := string(valid)
	tests := []struct {
		name  string
		value string
	}{
		{"empty", ""},
		{"null", "null"},
		{"array", "[" + s + "]"},
		{"unknown field", strings.Replace(s, `"user_id"`, `"colour":"red","user_id"`, 1)},
		{"unknown nested field", strings.Replace(s, `"item_id":"toy-8"`, `"item_id":"toy-8","why":"x"`, 1)},
		{"wrong type", strings.Replace(s, `"offset":1234`, `"offset":"1234"`, 1)},
		{"trailing data", s + "x"},
		{"two objects", s + " {}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeRecommendation([]byte(tc.value))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !strings.HasPrefix(err.Error(), "topics: decode recommendation: ") {
				t.Errorf("got %q, want the prefix \"topics: decode recommendation: \"", err)
			}
		})
	}
}
