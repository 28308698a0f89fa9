package processor

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// FuzzItemsFollower feeds the items follower arbitrary records: items,
// raw keys and values, tombstones, long keys. Whatever comes, applying a
// record never fails or panics (a record that is no item is a dead
// letter), the catalogue holds only items that decode, under keys an item
// can have, and its copy in the store is the same catalogue.
func FuzzItemsFollower(f *testing.F) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(f, err)
	f.Cleanup(c.Close)
	names := topics.DefaultNames().WithSuffix("-fuzz-items")
	adm, err := topics.NewAdmin(c.ListenAddrs())
	require.NoError(f, err)
	require.NoError(f, adm.Create(f.Context(), names, topics.TopicConfig{Partitions: 1}))
	adm.Close()
	m, err := testModel()
	require.NoError(f, err)
	items := testItems(synth.NewShop(1))

	f.Add([]byte{0, 1, 0, 2, 1, 3, 'a', 'b', 'c', 2, 'x'})
	f.Add([]byte{1, 5, 'c', 'a', 't', '-', '1', 20, '{', '"', 'i', 't', 'e', 'm', '_', 'i', 'd', '"', ':', '1', '}'})
	f.Add([]byte{3, 0, 2, 0xff, 0xfe, 4, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		db, err := store.Open("db", store.Options{FS: vfs.NewMem()})
		require.NoError(t, err)
		defer func() { require.NoError(t, db.Close()) }()
		p, err := New(Config{Brokers: c.ListenAddrs(), Names: names, Logger: slog.New(slog.DiscardHandler)}, db)
		require.NoError(t, err)
		defer func() { require.NoError(t, p.dlq.Close()) }()
		// An engine of its own: the follower changes its catalogue.
		eng, err := NewEngine(m, items, nil, model.IntentConfig{}, Knobs{K: 5})
		require.NoError(t, err)
		p.SetEngine(eng)
		p.cat.markLoaded()
		in := &fuzzInput{b: data}
		for off := int64(0); len(in.b) > 0 && off < 64; off++ {
			var key, value []byte
			switch in.next() % 4 {
			case 0: // an item, maybe a good one
				id := fmt.Sprint("item-", in.next())
				key = []byte(id)
				value = fmt.Appendf(nil, `{"item_id":%q,"name":%q,"category":"c%d","brand":"b","price":%d}`, id, in.take(int(in.next())), in.next()%4, in.next())
			case 1: // raw key and value
				key, value = in.take(int(in.next())), in.take(int(in.next()))
				if value == nil {
					value = []byte{}
				}
			case 2: // a tombstone
				key = in.take(int(in.next()))
			case 3: // a long key
				key = []byte(strings.Repeat(string(in.take(1))+"k", int(in.next())*4096))
				if in.next()%2 == 0 {
					value = []byte("{}")
				}
			}
			require.NoError(t, p.views.applyItem(t.Context(), kafka.Message{Topic: string(names.Items), Offset: off, Key: key, Value: value, Time: time.Unix(0, 0)}))
		}
		p.cat.mu.Lock()
		defer p.cat.mu.Unlock()
		for id, it := range p.cat.items {
			if id == "" || len(id) > topics.DefaultMaxIDLength || !utf8.ValidString(id) || it.ID != id {
				t.Fatalf("catalogue holds %q (item %q): not an item's key", id, it.ID)
			}
		}
		stored := 0
		require.NoError(t, db.Items(func(id string, v []byte) bool {
			stored++
			if _, ok := p.cat.items[id]; !ok {
				t.Errorf("the store holds item %q, the catalogue does not", id)
			}
			if _, err := topics.DecodeItem([]byte(id), v, topics.Limits{}); err != nil {
				t.Errorf("the store holds %q, which does not decode: %v", id, err)
			}
			return true
		}))
		if stored != len(p.cat.items) {
			t.Errorf("the store holds %d items, the catalogue %d", stored, len(p.cat.items))
		}
		if got := p.Engine().catalog.Len(); got > len(items)+64 {
			t.Errorf("the engine's catalogue grew to %d items from %d after 64 records at most", got, len(items))
		}
	})
}
