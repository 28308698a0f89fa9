package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/topics"
	"github.com/sessionrec/sessionrec/topics/dataset"
)

func dataDirForTest(t testing.TB) string {
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
		TrainSeconds float64           `json:"train_seconds"`
		LearningRate float32           `json:"learning_rate"`
		LRRetries    []json.RawMessage `json:"lr_retries"`
		Settings     map[string]string `json:"settings"`
		Command      string            `json:"command"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Equal(t, "yoochoose", rep.Dataset)
	require.Equal(t, float32(0.2), rep.LearningRate, "id-only data trains at eval's default rate")
	require.Nil(t, rep.LRRetries, "no retry, no lr_retries")
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
	// The settings used, and the one command that runs them again.
	require.Equal(t, "3", rep.Settings["epochs"])
	require.Equal(t, "yoochoose", rep.Settings["dataset"])
	require.Equal(t, "0.2", rep.Settings["lr"], "a default is written out too")
	require.Contains(t, rep.Command, "sessionrec eval ")
	for _, f := range []string{"--dataset=yoochoose", "--epochs=3", "--lr=0.2", "--methods=pop,item-knn,model-mean,model-intents"} {
		require.Contains(t, rep.Command, f)
	}
	require.NotContains(t, rep.Command, "--json")
}

// TestEvalReportsRetries runs eval at its default rate (0.2) on the
// cosmetics data with the next-item objective alone, which does not bound
// its updates and diverges at 0.2, 0.1 and 0.05 in the first epoch (one
// worker, seed 1): the model trains at 0.025 and the JSON says so. At the
// defaults (the pair loss) nothing diverges.
func TestEvalReportsRetries(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"eval", "--data", dataDirForTest(t), "--dataset", "rees46-cosmetics",
		"--methods", "sknn,model-mean", "--epochs", "3", "--workers", "1", "--next-item", "1", "--next-item-only", "--json"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var rep struct {
		LearningRate float32 `json:"learning_rate"`
		LRRetries    []struct {
			LR     float32 `json:"lr"`
			Reason string  `json:"reason"`
		} `json:"lr_retries"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Equal(t, float32(0.025), rep.LearningRate)
	require.Len(t, rep.LRRetries, 3, out.String())
	for i, lr := range []float32{0.2, 0.1, 0.05} {
		require.Equal(t, lr, rep.LRRetries[i].LR)
		require.Equal(t, "non-finite parameters in epoch 1 of 3", rep.LRRetries[i].Reason)
	}

	out.Reset()
	errOut.Reset()
	err = run(t.Context(), []string{"eval", "--data", dataDirForTest(t), "--dataset", "rees46-cosmetics",
		"--methods", "model-mean", "--epochs", "3", "--workers", "1", "--next-item", "1", "--next-item-only"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Contains(t, errOut.String(), "training diverged at learning rate 0.2 (non-finite parameters in epoch 1 of 3); training again from the start at 0.1\n")
	require.Contains(t, out.String(), "\nmodel-mean trained at learning rate 0.025 after 3 retries: 0.2 diverged (")

	// At the defaults the pair loss bounds its updates: the same data
	// trains at 0.2, nothing retried.
	out.Reset()
	errOut.Reset()
	err = run(t.Context(), []string{"eval", "--data", dataDirForTest(t), "--dataset", "rees46-cosmetics",
		"--methods", "model-mean", "--epochs", "3", "--workers", "1", "--json"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	rep.LRRetries = nil
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Equal(t, float32(0.2), rep.LearningRate)
	require.Empty(t, rep.LRRetries)
}

// TestTrainReportsRetries trains the next-item objective alone (the one
// that does not bound its updates) on the cosmetics data at a rate it
// cannot bear: each retry is a line on stderr, the report on stdout says
// which rate trained, and so does the artefact.
func TestTrainReportsRetries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.bin")
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"train", "--data", dataDirForTest(t), "--dataset", "rees46-cosmetics",
		"--keep-all", "--lr", "0.2", "--epochs", "3", "--workers", "1", "--next-item", "1", "--next-item-only", "--out", path}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	require.Contains(t, errOut.String(), "training diverged at learning rate 0.1 (non-finite parameters in epoch 1 of 3); training again from the start at 0.05\n")
	require.Contains(t, errOut.String(), "epoch 3/3 100.0%", "the bar starts again and ends")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	m, err := model.Read(bytes.NewReader(b))
	require.NoError(t, err)
	require.Equal(t, float32(0.05), m.Info.LearningRate)
	require.Contains(t, out.String(), "model "+m.Info.Version+": trained at learning rate 0.05 after 2 retries: 0.2 diverged (non-finite parameters in epoch 1 of 3), 0.1 diverged (")
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
		{"diverges at every rate", []string{"eval", "--data", "DATA", "--dataset", "rees46-cosmetics", "--methods", "model-mean",
			"--lr", "1e30", "--epochs", "1", "--workers", "1", "--next-item", "1", "--next-item-only"}, "training diverged (non-finite parameters) at every learning rate tried, halving it 4 times: 1e+30 ("},
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

func TestDemoPrintsRecommendationsAndServesTheAPI(t *testing.T) {
	d := startDemo(t, "--duration", "60s")
	base, user, out, errOut := d.base, d.user, d.out, d.errOut
	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer func() { require.NoError(t, resp.Body.Close()) }()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, b
	}
	// Once the user's first events are applied, 5 items with intents.
	var rec struct {
		Intents []topics.Intent          `json:"intents"`
		Items   []topics.RecommendedItem `json:"items"`
	}
	require.Eventually(t, func() bool {
		status, body := get("/v1/users/" + user + "/recommendations?k=5&diversity=0.5")
		return status == http.StatusOK && json.Unmarshal(body, &rec) == nil
	}, 10*time.Second, 50*time.Millisecond, "recommendations for %s", user)
	require.Len(t, rec.Items, 5)
	require.NotEmpty(t, rec.Intents)
	status, body := get("/v1/users/" + user + "/recommendations?k=abc")
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	require.Contains(t, string(body), `"error":"parameter k:`)
	status, body = get("/metrics")
	require.Equal(t, http.StatusOK, status)
	require.Regexp(t, `sessionrec_model_info\{version="m-[0-9a-f]+"\} 1`, string(body))

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "\n") }, 30*time.Second, 20*time.Millisecond,
		"the demo prints recommendation lines")
	d.stop()
	require.NoError(t, d.wait(), errOut.String())
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

// lockedBuffer is a bytes.Buffer safe to write from the command's
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// --cold-items hides items from training and reports their cases apart:
// POP cannot recommend them, the model can, from their features.
func TestEvalColdItems(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(t.Context(), []string{"eval", "--data", dataDirForTest(t), "--dataset", "diginetica",
		"--methods", "pop,sknn,model-intents", "--epochs", "10", "--workers", "1", "--cold-items", "0.1", "--json"}, &out, &errOut)
	require.NoError(t, err, errOut.String())
	var rep struct {
		ColdItems int `json:"cold_items"`
		Results   []struct {
			Method    string   `json:"method"`
			ColdCases int      `json:"cold_cases"`
			ColdHR20  *float64 `json:"cold_hr20"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.Positive(t, rep.ColdItems)
	require.Len(t, rep.Results, 3)
	for _, r := range rep.Results {
		require.Positive(t, r.ColdCases, r.Method)
		require.NotNil(t, r.ColdHR20, r.Method)
	}
	require.Zero(t, *rep.Results[0].ColdHR20, "POP cannot recommend an item no training event has")
	require.Zero(t, *rep.Results[1].ColdHR20, "nor can SKNN")
	require.Positive(t, *rep.Results[2].ColdHR20, "the model recommends cold items from their features")
}

// eval refuses a model knob out of [0, 1] before it reads any data.
func TestEvalRefusesKnobsOutOfRange(t *testing.T) {
	for _, args := range [][]string{{"--neighbours", "1.5"}, {"--sequence", "-0.1"}, {"--repeat", "NaN"}} {
		t.Run(args[0], func(t *testing.T) {
			var out, errOut lockedBuffer
			err := run(t.Context(), append([]string{"eval", "--dataset", "no-such-dataset"}, args...), &out, &errOut)
			require.ErrorContains(t, err, args[0]+" "+args[1]+": want 0 to 1")
		})
	}
}
