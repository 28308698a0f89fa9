package processor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/topics"
)

func TestEarliest(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type head struct {
		t  time.Time
		ok bool
	}
	for _, tc := range []struct {
		name  string
		heads []head
		want  int
	}{
		{"none", []head{{}, {}}, -1},
		{"only the second", []head{{}, {at, true}}, 1},
		{"the earlier", []head{{at.Add(time.Second), true}, {at, true}}, 1},
		{"a tie goes to the first", []head{{at, true}, {at, true}}, 0},
		{"a missing head is not a zero time", []head{{time.Time{}, false}, {at, true}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := earliest(len(tc.heads), func(i int) (time.Time, bool) { return tc.heads[i].t, tc.heads[i].ok })
			require.Equal(t, tc.want, got)
		})
	}
}

// takeFixture is a worker over two inputs whose records are all fetched:
// the broker's end offsets are what the inputs have read, unless ends says
// otherwise.
func takeFixture(batchSize int, wait time.Duration, clicks, purchases []time.Time) (*worker, *input, *input) {
	queue := func(topic topics.Topic, times []time.Time) *input {
		in := &input{topic: topic, ch: make(chan fetched, 8), delivered: true, last: time.Now(), started: time.Now()}
		for i, at := range times {
			in.queue = append(in.queue, Record{Topic: topic, Offset: int64(i), Time: at})
		}
		in.next, in.hwm = int64(len(times)), int64(len(times))
		return in
	}
	c, p := queue("clicks", clicks), queue("purchases", purchases)
	w := &worker{cfg: &Config{BatchSize: batchSize, InputWait: wait, Logger: slog.New(slog.DiscardHandler),
		Metrics: NewMetrics(prometheus.NewRegistry())}, ins: []*input{c, p}}
	w.ends = func(_ context.Context, topic topics.Topic) (map[int32]int64, error) {
		for _, in := range w.ins {
			if in.topic == topic {
				return map[int32]int64{0: in.hwm}, nil
			}
		}
		return nil, nil
	}
	return w, c, p
}

func topicsOf(batch []Record) []topics.Topic {
	var out []topics.Topic
	for _, r := range batch {
		out = append(out, r.Topic)
	}
	return out
}

func TestTakeMergesByRecordTime(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	minute := func(n int) time.Time { return at.Add(time.Duration(n) * time.Minute) }
	w, _, _ := takeFixture(10, time.Second, []time.Time{minute(1), minute(3), minute(5)}, []time.Time{minute(2), minute(4)})
	batch := w.take(t.Context(), nil)
	require.Equal(t, []topics.Topic{"clicks", "purchases", "clicks", "purchases", "clicks"}, topicsOf(batch))
	for i := 1; i < len(batch); i++ {
		require.False(t, batch[i].Time.Before(batch[i-1].Time), "out of order at %d", i)
	}
}

func TestTakeTieGoesToClicks(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w, _, _ := takeFixture(10, time.Second, []time.Time{at, at}, []time.Time{at})
	require.Equal(t, []topics.Topic{"clicks", "clicks", "purchases"}, topicsOf(w.take(t.Context(), nil)))
}

func TestTakeBoundsTheBatch(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	w, c, p := takeFixture(3, time.Second, []time.Time{at, at.Add(2 * time.Second), at.Add(4 * time.Second)}, []time.Time{at.Add(time.Second), at.Add(3 * time.Second)})
	batch := w.take(t.Context(), nil)
	require.Equal(t, []topics.Topic{"clicks", "purchases", "clicks"}, topicsOf(batch))
	require.Len(t, c.queue, 1, "the rest waits for the next batch")
	require.Len(t, p.queue, 1)
	require.Len(t, w.take(t.Context(), nil), 2)
}

// An input with records on the broker it has not fetched holds the batch
// until they come (then they merge in order) or InputWait passes (then the
// batch goes on without them).
func TestTakeWaitsForAnInputBehind(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t.Run("it comes", func(t *testing.T) {
		w, _, p := takeFixture(10, time.Minute, []time.Time{at.Add(time.Minute)}, nil)
		p.hwm = 1
		go func() { p.ch <- fetched{rec: Record{Topic: "purchases", Offset: 0, Time: at}, hwm: 1} }()
		require.Equal(t, []topics.Topic{"purchases", "clicks"}, topicsOf(w.take(t.Context(), nil)))
	})
	t.Run("it comes slowly", func(t *testing.T) {
		// Three records 800 ms apart: 2.4 s in all, more than InputWait,
		// but the reader is never silent for InputWait, so the batches
		// wait for every one of them (a wait bounded by the batch took
		// the click before the third); a batch may go with the first two.
		w, _, p := takeFixture(10, 2*time.Second, []time.Time{at.Add(time.Minute)}, nil)
		p.hwm = 3
		go func() {
			for i := range 3 {
				time.Sleep(800 * time.Millisecond)
				p.ch <- fetched{rec: Record{Topic: "purchases", Offset: int64(i), Time: at.Add(time.Duration(i) * time.Second)}, hwm: 3}
			}
		}()
		var all []Record
		for len(all) < 4 {
			all = append(all, w.take(t.Context(), nil)...)
		}
		require.Equal(t, []topics.Topic{"purchases", "purchases", "purchases", "clicks"}, topicsOf(all))
		require.Zero(t, mergeSkips(t, w))
	})
	t.Run("it does not", func(t *testing.T) {
		w, c, p := takeFixture(10, 50*time.Millisecond, []time.Time{at.Add(time.Minute)}, nil)
		p.hwm = 1
		require.Equal(t, []topics.Topic{"clicks"}, topicsOf(w.take(t.Context(), nil)))
		require.Equal(t, 1.0, mergeSkips(t, w))
		// The next batch does not wait for it again, nor count it again,
		// until it delivers.
		c.queue = append(c.queue, Record{Topic: "clicks", Offset: 1, Time: at.Add(2 * time.Minute)})
		c.next, c.hwm = 2, 2
		require.Equal(t, []topics.Topic{"clicks"}, topicsOf(w.take(t.Context(), nil)))
		require.Equal(t, 1.0, mergeSkips(t, w))
		p.push(fetched{rec: Record{Topic: "purchases", Offset: 0, Time: at.Add(3 * time.Minute)}, hwm: 2})
		require.False(t, p.skipped, "a delivery ends the skip")
		require.Equal(t, []topics.Topic{"purchases"}, topicsOf(w.take(t.Context(), nil)))
	})
	t.Run("it came while another was waited for", func(t *testing.T) {
		// Purchases' silence is long past, but while the batch waits for
		// erasures a purchase comes into its channel: it is taken in its
		// place, first, not skipped.
		w, _, p := takeFixture(10, 50*time.Millisecond, []time.Time{at.Add(time.Hour)}, nil)
		p.hwm, p.waitFrom = 1, time.Now().Add(-time.Minute)
		e := &input{topic: "erasures", ch: make(chan fetched, 1), hwm: 1, delivered: true, last: time.Now(), started: time.Now()}
		w.ins = append(w.ins, e)
		go func() {
			time.Sleep(20 * time.Millisecond)
			p.ch <- fetched{rec: Record{Topic: "purchases", Offset: 0, Time: at}, hwm: 1}
			time.Sleep(20 * time.Millisecond)
			e.ch <- fetched{rec: Record{Topic: "erasures", Offset: 0, Time: at.Add(time.Minute)}, hwm: 1}
		}()
		require.Equal(t, []topics.Topic{"purchases", "erasures", "clicks"}, topicsOf(w.take(t.Context(), nil)))
		require.Zero(t, mergeSkips(t, w))
	})
	t.Run("a batch with records goes after InputWait in all", func(t *testing.T) {
		// A click first, then purchases that come every 300 ms, each
		// within InputWait (1 s) of the last, older than the second
		// click: the batch goes with what it has after 1 s, in order and
		// without that click, and the next batches take the rest, with
		// nothing skipped.
		w, _, p := takeFixture(100, time.Second, []time.Time{at, at.Add(time.Hour)}, nil)
		p.hwm = 6
		go func() {
			for i := range 6 {
				time.Sleep(300 * time.Millisecond)
				p.ch <- fetched{rec: Record{Topic: "purchases", Offset: int64(i), Time: at.Add(time.Duration(i+1) * time.Minute)}, hwm: 6}
			}
		}()
		first := w.take(t.Context(), nil)
		require.Less(t, len(first), 7, "the first batch did not wait for every purchase")
		require.NotContains(t, first, Record{Topic: "clicks", Offset: 1, Time: at.Add(time.Hour)})
		all := first
		for len(all) < 8 {
			all = append(all, w.take(t.Context(), nil)...)
		}
		require.Equal(t, []topics.Topic{"clicks", "purchases", "purchases", "purchases", "purchases", "purchases", "purchases", "clicks"}, topicsOf(all))
		require.Zero(t, mergeSkips(t, w))
	})
	t.Run("ctx ends", func(t *testing.T) {
		w, _, p := takeFixture(10, time.Minute, []time.Time{at.Add(time.Minute)}, nil)
		p.hwm = 1
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		require.Empty(t, w.take(ctx, nil))
	})
}

// mergeSkips is w's count of batches that went on without purchases.
func mergeSkips(t *testing.T, w *worker) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, w.cfg.Metrics.mergeSkips.WithLabelValues("purchases").Write(&m))
	return m.GetCounter().GetValue()
}
