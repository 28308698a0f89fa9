package model

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// planted makes session items whose vectors sit around planted topic
// directions: topic t's items are its direction plus noise, so items of a
// topic have a cosine near 0.8 and items of different topics near 0.
type planted struct {
	rng    *rand.Rand
	dim    int
	topics map[string][]float32
}

func newPlanted(seed uint64) *planted {
	return &planted{rng: rand.New(rand.NewPCG(seed, 1)), dim: 100, topics: map[string][]float32{}}
}

func (p *planted) unit() []float32 {
	v := make([]float32, p.dim)
	for i := range v {
		v[i] = float32(p.rng.NormFloat64())
	}
	Normalize(v)
	return v
}

// item returns the n-th item of a topic at minute m of the session.
func (p *planted) item(topic string, n, m int) SessionItem {
	d, ok := p.topics[topic]
	if !ok {
		d = p.unit()
		p.topics[topic] = d
	}
	v := p.unit()
	for i := range v {
		v[i] = d[i] + 0.5*v[i]
	}
	return SessionItem{ID: fmt.Sprintf("%s-%d", topic, n), Vec: v, Time: time.Unix(0, 0).Add(time.Duration(m) * time.Minute)}
}

func members(intents []Intent) [][]string {
	var out [][]string
	for _, in := range intents {
		out = append(out, slices.Sorted(slices.Values(in.Items)))
	}
	slices.SortFunc(out, func(a, b []string) int { return compareStrings(a[0], b[0]) })
	return out
}

func TestDetectPlantedIntents(t *testing.T) {
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	for seed := uint64(1); seed <= 20; seed++ {
		p := newPlanted(seed)
		type tc struct {
			name    string
			session []SessionItem
			want    [][]string
			current string // an item of the current intent
		}
		cases := []tc{
			{
				name: "cat food then cat toys",
				session: []SessionItem{
					p.item("catfood", 1, 0), p.item("catfood", 2, 1), p.item("catfood", 3, 2),
					p.item("cattoy", 1, 3), p.item("cattoy", 2, 4),
				},
				want:    [][]string{{"catfood-1", "catfood-2", "catfood-3"}, {"cattoy-1", "cattoy-2"}},
				current: "cattoy-2",
			},
			{
				name: "one topic",
				session: []SessionItem{
					p.item("phone", 1, 0), p.item("phone", 2, 1), p.item("phone", 3, 2), p.item("phone", 4, 3),
				},
				want:    [][]string{{"phone-1", "phone-2", "phone-3", "phone-4"}},
				current: "phone-4",
			},
			{
				name: "interleaved topics",
				session: []SessionItem{
					p.item("catfood", 1, 0), p.item("phone", 1, 1), p.item("catfood", 2, 2),
					p.item("phone", 2, 3), p.item("catfood", 3, 4),
				},
				want:    [][]string{{"catfood-1", "catfood-2", "catfood-3"}, {"phone-1", "phone-2"}},
				current: "catfood-3",
			},
			{
				name: "repeated clicks count once",
				session: []SessionItem{
					p.item("catfood", 1, 0), p.item("catfood", 2, 1), p.item("catfood", 1, 2),
				},
				want:    [][]string{{"catfood-1", "catfood-2"}},
				current: "catfood-1",
			},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/seed=%d", c.name, seed), func(t *testing.T) {
				got := det.Detect(c.session, nil)
				require.Equal(t, c.want, members(got), "got intents %v", members(got))
				var sum float32
				for _, in := range got {
					sum += in.Weight
					require.Equal(t, slices.Contains(in.Items, c.current), in.Current, "intent %v current", in.Items)
					require.InDelta(t, 1, Norm(in.Centroid), 1e-5)
					require.Greater(t, in.Coherence, float32(0.7))
					require.Equal(t, in.Items[0], in.ID)
				}
				require.InDelta(t, 1, sum, 1e-5)
			})
		}
	}
}

func TestDetectStrayClickKeepsStrongIntent(t *testing.T) {
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	for seed := uint64(1); seed <= 20; seed++ {
		p := newPlanted(seed)
		for stray := range 6 {
			session := []SessionItem{}
			for i := range 5 {
				if i == stray {
					session = append(session, p.item("phone", 1, len(session)))
				}
				session = append(session, p.item("catfood", i+1, len(session)))
			}
			if stray == 5 {
				session = append(session, p.item("phone", 1, len(session)))
			}
			got := det.Detect(session, nil)
			var food []string
			for _, in := range got {
				if slices.Contains(in.Items, "catfood-1") {
					food = in.Items
				}
			}
			require.Equal(t, []string{"catfood-1", "catfood-2", "catfood-3", "catfood-4", "catfood-5"},
				slices.Sorted(slices.Values(food)), "seed %d stray at %d: got intents %v", seed, stray, members(got))
			require.LessOrEqual(t, len(got), 2, "seed %d stray at %d: got intents %v", seed, stray, members(got))
		}
	}
}

func TestDetectDeterministic(t *testing.T) {
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	p := newPlanted(7)
	var s []SessionItem
	for i := range 12 {
		s = append(s, p.item([]string{"a", "b", "c", "d"}[i%4], i, i))
	}
	first := det.Detect(s, nil)
	for range 5 {
		require.Equal(t, first, det.Detect(s, nil))
	}
	require.LessOrEqual(t, len(first), 3, "MaxIntents")
	var n int
	for _, in := range first {
		n += len(in.Items)
	}
	require.Equal(t, 10, n, "the window holds the last 10 distinct items")
}

func TestDetectEdgeCases(t *testing.T) {
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	require.Empty(t, det.Detect(nil, nil))
	require.Empty(t, det.Detect([]SessionItem{{ID: "x"}}, nil), "items without a vector are left out")
	p := newPlanted(3)
	one := det.Detect([]SessionItem{p.item("a", 1, 0), {ID: "unknown"}}, nil)
	require.Len(t, one, 1)
	require.Equal(t, []string{"a-1"}, one[0].Items)
	require.True(t, one[0].Current)
	require.InDelta(t, 1, one[0].Coherence, 1e-6)
}

func TestDetectResumesPastIntent(t *testing.T) {
	det, err := NewIntentDetector(IntentConfig{})
	require.NoError(t, err)
	p := newPlanted(5)
	yesterday := det.Detect([]SessionItem{p.item("catfood", 1, 0), p.item("catfood", 2, 1)}, nil)
	require.Len(t, yesterday, 1)
	today := det.Detect([]SessionItem{p.item("catfood", 3, 0), p.item("catfood", 4, 1), p.item("phone", 1, 2)}, yesterday)
	ids := map[string]string{}
	for _, in := range today {
		ids[in.Items[0]] = in.ID
	}
	require.Equal(t, "catfood-1", ids["catfood-3"], "the cat food intent resumes yesterday's")
	require.Equal(t, "phone-1", ids["phone-1"])
}

func TestIntentConfigValidation(t *testing.T) {
	for _, c := range []IntentConfig{
		{Window: -1}, {Window: 17}, {MaxIntents: -2}, {Window: 3, MaxIntents: 4},
		{SplitPenalty: -1}, {Recency: 1.5}, {Resume: 2},
	} {
		_, err := NewIntentDetector(c)
		require.Error(t, err, "%+v", c)
	}
}

func BenchmarkDetect(b *testing.B) {
	det, err := NewIntentDetector(IntentConfig{Window: 10})
	require.NoError(b, err)
	p := newPlanted(1)
	var s []SessionItem
	for i := range 10 {
		s = append(s, p.item([]string{"a", "a", "b", "c", "b", "a", "c", "b", "a", "d"}[i], i, i))
	}
	b.ReportAllocs()
	for b.Loop() {
		det.Detect(s, nil)
	}
}
