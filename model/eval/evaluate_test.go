package eval_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/eval"
)

// tableMethod scores items from a fixed table keyed by the prefix's last
// item ("" for an empty prefix); an unlisted prefix scores all items 0. It
// records what it was fitted with and the prefixes it saw.
type tableMethod struct {
	// scores maps a last item id to the score of each item id.
	scores map[string]map[string]float32
	fitErr error

	items    []string // dense index -> item id, learnt in Fit from names
	names    map[string]int32
	train    *eval.TrainSet
	prefixes [][]int32
}

var _ eval.Method = (*tableMethod)(nil)

func (*tableMethod) Name() string { return "table" }

func (m *tableMethod) Fit(train *eval.TrainSet) error {
	m.train = train
	return m.fitErr
}

func (m *tableMethod) NewScorer() eval.Scorer { return m }

// Score is only safe with Workers: 1, which the tests using it set.
func (m *tableMethod) Score(prefix []int32, dst []float32) {
	m.prefixes = append(m.prefixes, append([]int32(nil), prefix...))
	clear(dst)
	last := ""
	if len(prefix) > 0 {
		last = m.items[prefix[len(prefix)-1]]
	}
	for id, s := range m.scores[last] {
		if x, ok := m.names[id]; ok {
			dst[x] = s
		}
	}
}

// index records the dense index Evaluate gives each training item, which is
// the order of first appearance.
func (m *tableMethod) index(train [][]string) {
	m.names = map[string]int32{}
	for _, s := range train {
		for _, id := range s {
			if _, ok := m.names[id]; !ok {
				m.names[id] = int32(len(m.items))
				m.items = append(m.items, id)
			}
		}
	}
}

func TestEvaluateProtocol(t *testing.T) {
	split := eval.Split{
		Train: [][]string{{"a", "b"}, {"c", "d", "a"}},
		Test: [][]string{
			{"a", "b", "c"},      // cases: [a]->b, [a b]->c
			{"x", "d", "y", "a"}, // [x]->d (no input), [x d]->y skipped, [x d y]->a
			{"b"},                // no case
			{"z", "y"},           // skipped
		},
	}
	m := &tableMethod{scores: map[string]map[string]float32{
		"a": {"b": 3, "c": 2, "d": 1}, // [a]->b rank 1; [a b] uses last item b
		"b": {"a": 5, "c": 4},         // [a b]->c rank 2
		"":  {"d": 1},                 // [x]->d rank 1 although there is no input
		"d": {"a": 0},                 // [x d y]->a scores 0: a miss
	}}
	m.index(split.Train)
	got, err := eval.Evaluate(t.Context(), m, split, eval.Config{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := eval.Result{Method: "table", K: 20, HR: 3.0 / 4, MRR: (1 + 0.5 + 1 + 0) / 4, Cases: 4, Skipped: 2, NoInput: 1, Items: 4}
	got.FitTime, got.EvalTime = 0, 0
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if m.train.NItems != 4 || len(m.train.Sessions) != 2 || fmt.Sprint(m.train.Sessions) != "[[0 1] [2 3 0]]" {
		t.Errorf("got train set %+v, want 4 items and sessions [[0 1] [2 3 0]]", m.train)
	}
	// Unknown items are dropped from the prefixes.
	if got, want := fmt.Sprint(m.prefixes), "[[0] [0 1] [] [3]]"; got != want {
		t.Errorf("got prefixes %s, want %s", got, want)
	}
}

func TestEvaluateCutOff(t *testing.T) {
	split := eval.Split{Train: [][]string{{"a", "b", "c"}}, Test: [][]string{{"a", "c"}}}
	scores := map[string]map[string]float32{"a": {"a": 3, "b": 2, "c": 1}}
	tests := []struct {
		k       int
		hr, mrr float64
	}{
		{1, 0, 0},
		{2, 0, 0},
		{3, 1, 1.0 / 3},
		{0, 1, 1.0 / 3}, // default 20
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.k), func(t *testing.T) {
			m := &tableMethod{scores: scores}
			m.index(split.Train)
			got, err := eval.Evaluate(t.Context(), m, split, eval.Config{K: tc.k, Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got.HR != tc.hr || math.Abs(got.MRR-tc.mrr) > 1e-12 {
				t.Errorf("got HR %v MRR %v, want %v %v", got.HR, got.MRR, tc.hr, tc.mrr)
			}
		})
	}
}

// constMethod gives every item the same positive score (or zero).
type constMethod struct {
	n     int
	score float32
}

func (*constMethod) Name() string                  { return "const" }
func (m *constMethod) Fit(ts *eval.TrainSet) error { m.n = ts.NItems; return nil }
func (m *constMethod) NewScorer() eval.Scorer      { return m }
func (m *constMethod) Score(_ []int32, dst []float32) {
	for i := range dst {
		dst[i] = m.score
	}
}

// randomSplit makes sessions over nItems items with a seeded generator.
func randomSplit(seed uint64, nItems, nTrain, nTest int) eval.Split {
	rng := rand.New(rand.NewPCG(seed, 0))
	gen := func(n int) [][]string {
		out := make([][]string, n)
		for i := range out {
			s := make([]string, 2+rng.IntN(6))
			for j := range s {
				// Zipf-like: low ids are more frequent.
				s[j] = strconv.Itoa(int(float64(nItems) * math.Pow(rng.Float64(), 2)))
			}
			out[i] = s
		}
		return out
	}
	return eval.Split{Train: gen(nTrain), Test: gen(nTest)}
}

func TestEvaluateTies(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	split := randomSplit(seed, 30, 200, 2000)
	t.Run("all tied", func(t *testing.T) {
		got, err := eval.Evaluate(t.Context(), &constMethod{score: 1}, split, eval.Config{K: 10, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		// The target is at a uniform rank among the n items.
		n := float64(got.Items)
		wantHR := 10 / n
		wantMRR := 0.0
		for r := 1; r <= 10; r++ {
			wantMRR += 1 / float64(r) / n
		}
		if math.Abs(got.HR-wantHR) > 0.02 || math.Abs(got.MRR-wantMRR) > 0.01 {
			t.Errorf("got HR %.4f MRR %.4f, want about %.4f %.4f over %d cases", got.HR, got.MRR, wantHR, wantMRR, got.Cases)
		}
	})
	t.Run("all zero gets no credit", func(t *testing.T) {
		got, err := eval.Evaluate(t.Context(), &constMethod{score: 0}, split, eval.Config{K: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if got.HR != 0 || got.MRR != 0 || got.Cases == 0 {
			t.Errorf("got HR %v MRR %v over %d cases, want 0 0 over some", got.HR, got.MRR, got.Cases)
		}
	})
}

// TestEvaluateDeterministic checks that the result depends on the seed but
// not on the number of workers.
func TestEvaluateDeterministic(t *testing.T) {
	split := randomSplit(5, 50, 400, 400)
	sknn, err := eval.NewSKNN(eval.SKNNConfig{K: 5, SampleSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	methods := []eval.Method{&constMethod{score: 1}, sknn}
	for _, m := range methods {
		t.Run(m.Name(), func(t *testing.T) {
			var results []eval.Result
			for _, workers := range []int{1, 2, 5} {
				r, err := eval.Evaluate(t.Context(), m, split, eval.Config{Seed: 9, Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				r.FitTime, r.EvalTime = 0, 0
				results = append(results, r)
			}
			for i, r := range results[1:] {
				if r != results[0] {
					t.Errorf("workers run %d: got %+v, want %+v", i+1, r, results[0])
				}
			}
		})
	}
	a, _ := eval.Evaluate(t.Context(), &constMethod{score: 1}, split, eval.Config{Seed: 1})
	b, _ := eval.Evaluate(t.Context(), &constMethod{score: 1}, split, eval.Config{Seed: 2})
	if a.MRR == b.MRR {
		t.Errorf("seeds 1 and 2: got the same MRR %v, want the tie-breaking to differ", a.MRR)
	}
}

func TestEvaluateErrors(t *testing.T) {
	split := eval.Split{Train: [][]string{{"a", "b"}}, Test: [][]string{{"a", "b"}}}
	fitErr := errors.New("boom")
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name   string
		ctx    context.Context
		m      eval.Method
		split  eval.Split
		cfg    eval.Config
		target error // errors.Is target, or nil to check only failure
	}{
		{"negative K", t.Context(), &constMethod{}, split, eval.Config{K: -1}, nil},
		{"negative workers", t.Context(), &constMethod{}, split, eval.Config{Workers: -2}, nil},
		{"train end length", t.Context(), &constMethod{}, eval.Split{Train: split.Train, Test: split.Test, TrainEnd: []time.Time{{}, {}}}, eval.Config{}, nil},
		{"fit", t.Context(), &tableMethod{fitErr: fitErr}, split, eval.Config{}, fitErr},
		{"canceled", canceled, &constMethod{}, split, eval.Config{}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := eval.Evaluate(tc.ctx, tc.m, tc.split, tc.cfg)
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("got %v, want it to wrap %v", err, tc.target)
			}
			if msg := err.Error(); len(msg) < 6 || msg[:6] != "eval: " {
				t.Errorf("got %q, want the prefix \"eval: \"", msg)
			}
		})
	}
}

// TestEvaluateTrainEnd checks that training sessions are handed to the
// method in order of their end time.
func TestEvaluateTrainEnd(t *testing.T) {
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	split := eval.Split{
		Train:    [][]string{{"a"}, {"b"}, {"c"}, {"d"}},
		TrainEnd: []time.Time{at(30), at(10), at(30), at(20)},
		Test:     [][]string{{"a", "b"}},
	}
	m := &tableMethod{}
	m.index(split.Train)
	if _, err := eval.Evaluate(t.Context(), m, split, eval.Config{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	// b (10), d (20), then a and c (30) in input order. Indices follow
	// first appearance in that order: b=0, d=1, a=2, c=3.
	if got, want := fmt.Sprint(m.train.Sessions), "[[0] [1] [2] [3]]"; got != want {
		t.Errorf("got sessions %s, want %s", got, want)
	}
	if got := m.prefixes; len(got) != 1 || len(got[0]) != 1 || got[0][0] != 2 {
		t.Errorf("got prefixes %v, want [[2]] (a is index 2)", got)
	}
}

func ExampleEvaluate() {
	split := eval.Split{
		Train: [][]string{{"a", "b"}, {"a", "b"}, {"a", "c"}},
		Test:  [][]string{{"a", "b", "a"}, {"c", "d"}},
	}
	res, err := eval.Evaluate(context.Background(), eval.NewPop(), split, eval.Config{K: 2, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("HR@%d %.3f MRR@%d %.3f cases %d skipped %d\n", res.K, res.HR, res.K, res.MRR, res.Cases, res.Skipped)
	// Output: HR@2 1.000 MRR@2 0.750 cases 2 skipped 1
}

// idMethod scores by item id: want[id] for the items it names, 0 for the
// others; it records the training set it was fitted on.
type idMethod struct {
	want  map[string]float32
	train *eval.TrainSet
}

func (*idMethod) Name() string                  { return "id" }
func (m *idMethod) Fit(ts *eval.TrainSet) error { m.train = ts; return nil }
func (m *idMethod) NewScorer() eval.Scorer      { return m }
func (m *idMethod) Score(_ []int32, dst []float32) {
	for i, id := range m.train.IDs {
		dst[i] = m.want[id]
	}
}

// Cold items are left out of every training event, stay in the item
// universe, and their cases are reported apart.
func TestEvaluateColdItems(t *testing.T) {
	s := eval.Split{
		Train:         [][]string{{"a", "b", "c"}, {"c", "d"}, {"d"}},
		TrainPurchase: [][]bool{{false, false, true}, {false, true}, {true}},
		Test:          [][]string{{"a", "d"}, {"b", "c"}, {"a", "b"}},
		Cold:          []string{"d", "d"},
	}
	m := &idMethod{want: map[string]float32{"d": 1, "c": 0.5}}
	r, err := eval.Evaluate(t.Context(), m, s, eval.Config{Seed: 1, Workers: 1})
	require.NoError(t, err)
	// Training: "d" is gone from every event, with its purchase flags; the
	// session of "d" alone is dropped. The universe ends with it.
	require.Equal(t, []string{"a", "b", "c", "d"}, m.train.IDs)
	require.Equal(t, 4, m.train.NItems)
	require.Equal(t, [][]int32{{0, 1, 2}, {2}}, m.train.Sessions)
	require.Equal(t, [][]bool{{false, false, true}, {false}}, m.train.Purchase)
	// Three cases, none skipped; the one whose target is "d" is cold, and
	// this method, which knows "d", ranks it first.
	require.Equal(t, 3, r.Cases)
	require.Zero(t, r.Skipped)
	require.Equal(t, 1, r.ColdCases)
	require.InDelta(t, 1, r.ColdHR, 1e-9)
	require.InDelta(t, 1, r.ColdMRR, 1e-9)
	// POP cannot recommend an item no training event has.
	r, err = eval.Evaluate(t.Context(), eval.NewPop(), s, eval.Config{Seed: 1, Workers: 1})
	require.NoError(t, err)
	require.Equal(t, 1, r.ColdCases)
	require.Zero(t, r.ColdHR)
}
