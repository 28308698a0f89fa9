package processor

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/topics"
)

// A record past the next offset means the ones between were deleted
// before they were read: the input says so, and goes on from the record.
func TestInputReportsLostRecords(t *testing.T) {
	var lost [][2]int64
	in := &input{next: 5, lost: func(from, to int64) { lost = append(lost, [2]int64{from, to}) }}
	in.push(fetched{rec: Record{Offset: 5}})
	require.Empty(t, lost)
	in.push(fetched{rec: Record{Offset: 9}})
	require.Equal(t, [][2]int64{{6, 9}}, lost)
	require.Equal(t, int64(10), in.next)
	in.push(fetched{rec: Record{Offset: 7}}) // a replaced reader's late delivery: dropped
	require.Len(t, lost, 1)
	require.Len(t, in.queue, 2)
}

// The idle advance moves a watermark only when the end offsets show every
// input read to its end: a record on the broker not fetched yet (a slow
// reader, an outage) holds it, and so does a record fetched but not taken.
func TestIdleAdvanceWaitsForPendingInput(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) {
			names, adm := newTopics(t, brokers, 1)
			p, err := New(Config{Brokers: brokers, Names: names, Logger: slog.New(slog.DiscardHandler)}, nil)
			require.NoError(t, err)
			p.admin = adm
			ins := []*input{{topic: names.Clicks}, {topic: names.Purchases}}
			wk := newWorker(p, nil, 0, nil)
			wk.ins = ins
			require.False(t, wk.pending(t.Context()), "empty topics")

			w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), Topic: string(names.Clicks), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
			require.NoError(t, w.WriteMessages(t.Context(), kafka.Message{Key: []byte("u"), Value: []byte("{}")}))
			require.NoError(t, w.Close())
			require.True(t, wk.pending(t.Context()), "a record on the broker not fetched")
			ins[0].next = 1
			ins[0].queue = []Record{{Offset: 0}}
			require.True(t, wk.pending(t.Context()), "a record fetched, not taken")
			ins[0].queue = nil
			require.False(t, wk.pending(t.Context()), "every input read to its end")
		})
	}
}

// kfakeWorker is a worker of partition 0 of a processor over one-partition
// topics on an in-process broker, closed with the test.
func kfakeWorker(t *testing.T) (*worker, topics.Names) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	brokers := c.ListenAddrs()
	names, adm := newTopics(t, brokers, 1)
	p, err := New(Config{Brokers: brokers, Names: names, Logger: slog.New(slog.DiscardHandler)}, nil)
	require.NoError(t, err)
	p.admin = adm
	return newWorker(p, nil, 0, nil), names
}

// A batch waits for an input with records on the broker not fetched yet,
// so that the topics merge in timestamp order: also when that input's
// reader started long ago and has delivered nothing since (a topic quiet
// until now).
func TestTakeWaitsForALaggingInput(t *testing.T) {
	wk, names := kfakeWorker(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clicks := &input{topic: names.Clicks, ch: make(chan fetched, 1), delivered: true, last: time.Now(), started: time.Now()}
	for i := range 3 {
		clicks.queue = append(clicks.queue, Record{Topic: names.Clicks, Offset: int64(i), Time: at.Add(time.Duration(i+1) * time.Minute)})
	}
	clicks.next = 3
	purchases := &input{topic: names.Purchases, ch: make(chan fetched, 1), hwm: 1, started: time.Now().Add(-time.Hour)}
	go func() {
		time.Sleep(100 * time.Millisecond)
		purchases.ch <- fetched{rec: Record{Topic: names.Purchases, Offset: 0, Time: at}, hwm: 1}
	}()
	wk.ins = []*input{clicks, purchases}
	batch := wk.take(t.Context(), nil)
	require.Len(t, batch, 4)
	require.Equal(t, names.Purchases, batch[0].Topic, "the oldest record, the purchase, first")
}

// A reader that replaces one the merge had given up on (watchReaders) is
// waited for afresh, as a new reader: its records are not merged past.
func TestNewReaderIsWaitedFor(t *testing.T) {
	wk, names := kfakeWorker(t)
	wk.readErr = make(chan error, 1)
	in := &input{topic: names.Purchases, hwm: 1, skipped: true, waitFrom: time.Now().Add(-time.Minute), delivered: true}
	ctx, cancel := context.WithCancel(t.Context())
	require.NoError(t, wk.startReader(ctx, in, 0))
	require.False(t, in.skipped)
	require.True(t, in.waitFrom.IsZero())
	require.False(t, in.delivered)
	cancel()
	wk.readers.Wait()
}
