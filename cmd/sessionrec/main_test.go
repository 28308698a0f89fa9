package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

func dataDirForTest(t *testing.T) string {
	t.Helper()
	d, err := dataset.DataDir()
	require.NoError(t, err, "real datasets not found")
	return d
}

func TestEvalJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"eval", "--data", dataDirForTest(t), "--dataset", "yoochoose",
		"--methods", "pop,item-knn,model-mean,model-intents", "--epochs", "3", "--json"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var rep struct {
		Dataset string `json:"dataset"`
		Results []struct {
			Method  string   `json:"method"`
			HR20    *float64 `json:"hr20"`
			MRR20   *float64 `json:"mrr20"`
			Cases   int      `json:"cases"`
			Skipped *int     `json:"skipped"`
		} `json:"results"`
		TrainSeconds float64 `json:"train_seconds"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Equal(t, "yoochoose", rep.Dataset)
	require.Len(t, rep.Results, 4)
	for i, name := range []string{"pop", "item-knn", "model-mean", "model-intents"} {
		r := rep.Results[i]
		require.Equal(t, name, r.Method)
		require.Equal(t, 10152, r.Cases)
		require.NotNil(t, r.HR20)
		require.NotNil(t, r.MRR20)
		require.NotNil(t, r.Skipped)
		require.Greater(t, *r.HR20, 0.05, "%s", name)
		require.LessOrEqual(t, *r.MRR20, *r.HR20)
	}
	require.Positive(t, rep.TrainSeconds)
}

func TestTrainWritesArtefact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.bin")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"train", "--data", dataDirForTest(t), "--dataset", "diginetica",
		"--keep-all", "--epochs", "2", "--out", path}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Contains(t, errOut.String(), "epoch 2/2", "progress is reported")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := model.Read(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, 2, m.Info.Epochs)
	require.Positive(t, m.Info.KeptSessions)
	require.Positive(t, m.Dims.Category, "diginetica has categories, so -dims auto keeps the part")
	require.Zero(t, m.Dims.Brand, "diginetica has no brands")
	require.Contains(t, out.String(), m.Info.Version)
}

func TestCommandErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown command", []string{"nope"}, `unknown command "nope"`},
		{"unknown dataset", []string{"eval", "--data", ".", "--dataset", "nope"}, "nope"},
		{"unknown method", []string{"eval", "--data", "DATA", "--methods", "pop,magic"}, `unknown method "magic"`},
		{"bad dims", []string{"eval", "--data", "DATA", "--dims", "1,2"}, "-dims"},
		{"bad flag", []string{"train", "--epochs", "x"}, "invalid value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if a == "DATA" {
					tc.args[i] = dataDirForTest(t)
				}
			}
			var out, errOut bytes.Buffer
			err := run(t.Context(), tc.args, &out, &errOut)
			require.Error(t, err)
			require.True(t, strings.Contains(err.Error(), tc.want) || strings.Contains(errOut.String(), tc.want),
				"got error %q, stderr %q, want %q", err, errOut.String(), tc.want)
		})
	}
}

func TestDemoPrintsRecommendations(t *testing.T) {
	var out, errOut bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"demo", "--duration", "8s"}, &out, &errOut), errOut.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.NotEmpty(t, lines[0], "the demo prints recommendation lines; stderr:\n%s", errOut.String())
	for _, l := range lines {
		r, err := topics.DecodeRecommendation([]byte(l))
		require.NoError(t, err, "line %q", l)
		require.NotEmpty(t, r.Intents)
		require.NotEmpty(t, r.Items)
		for _, it := range r.Items {
			require.True(t, slices.ContainsFunc(r.Intents, func(in topics.Intent) bool { return in.ID == it.Intent }),
				"item %s credits intent %s, which the record lists", it.ItemID, it.Intent)
		}
	}
}
