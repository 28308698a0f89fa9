package processor

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/sessionrec/sessionrec/model/synth"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// TestLiveCatalogue runs a processor over a catalogue on the items topic:
// an item added while it runs is recommended at once, from its features
// alone (no retraining), to a user whose session is about what the item
// is; a tombstone takes it out of the results; a malformed item record is
// a dead letter; and a restart has the catalogue from the store.
func TestLiveCatalogue(t *testing.T) {
	for name, brokers := range clusters(t) {
		t.Run(name, func(t *testing.T) { testLiveCatalogue(t, brokers) })
	}
}

func testLiveCatalogue(t *testing.T, brokers []string) {
	names, adm, prod, shop, catalogue := shopOnTopics(t, brokers)

	m, err := testModel()
	require.NoError(t, err)
	dir := t.TempDir()
	start := func() (*Processor, *httptest.Server, *prometheus.Registry, func()) {
		in := startInstance(t, brokers, names, dir, Config{Engine: EngineConfig{Knobs: Knobs{K: 10, ExcludeSeen: true}}},
			func(p *Processor) { require.NoError(t, p.SetModel(m)) })
		srv := httptest.NewServer(in.p.Handler(in.reg))
		return in.p, srv, in.reg, func() {
			srv.Close()
			in.stop()
		}
	}
	p, srv, reg, stop := start()
	require.NotNil(t, p.Engine(), "the engine is built once the catalogue is read")
	require.Equal(t, len(catalogue), p.Engine().catalog.Len())

	// A user browsing cat food (topic 0).
	user := "cat-person"
	food := shop.ByTopic[0]
	t1 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	for i := range 3 {
		require.NoError(t, prod.Send(t.Context(), topics.Event{Kind: topics.KindClick, UserID: user,
			ItemID: shop.Items[food[i]].ID, Time: t1.Add(time.Duration(i) * time.Second)}))
	}
	recommended := func() []string {
		resp, err := http.Get(srv.URL + "/v1/users/" + user + "/recommendations?k=10")
		require.NoError(t, err)
		defer func() { require.NoError(t, resp.Body.Close()) }()
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		var r RecommendationsResponse
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		ids := make([]string, len(r.Items))
		for i, it := range r.Items {
			ids[i] = it.ItemID
		}
		return ids
	}
	require.Eventually(t, func() bool { return len(recommended()) == 10 }, 30*time.Second, 50*time.Millisecond)

	// A new cat food nobody has clicked, named and categorised like the
	// others, enters the catalogue.
	like := shop.Items[food[4]]
	fresh := topics.Item{ItemID: "cat-food-new-1", Name: like.Name + " new", Category: like.Category, Brand: like.Brand, Price: like.Price}
	require.NoError(t, prod.SendItems(t.Context(), fresh))
	require.Eventually(t, func() bool { return slices.Contains(recommended(), fresh.ItemID) }, 30*time.Second, 50*time.Millisecond,
		"the new item is recommended without retraining")
	require.True(t, p.Engine().Knows(fresh.ItemID), "events on it are applied, not dead letters")

	// A malformed item record is a dead letter; the catalogue goes on.
	w := &kafka.Writer{Transport: &kafka.Transport{}, Addr: kafka.TCP(brokers...), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	require.NoError(t, w.WriteMessages(t.Context(), kafka.Message{Topic: string(names.Items), Key: []byte("bad"), Value: []byte(`{"item_id":"bad","price":-1}`)}))
	require.NoError(t, w.Close())
	dead := readAll(t, brokers, names.DeadLetters, 2, 30*time.Second, func(ms []kafka.Message) bool { return len(ms) >= 1 })
	require.Len(t, dead, 1)
	dl, err := topics.DecodeDeadLetter(dead[0].Key, dead[0].Value)
	require.NoError(t, err)
	require.Equal(t, names.Items, dl.Topic)
	require.Equal(t, topics.ReasonInvalidField, dl.Reason)

	// Withdrawn, it is never recommended again.
	require.NoError(t, prod.WithdrawItems(t.Context(), fresh.ItemID))
	require.Eventually(t, func() bool {
		ids := recommended()
		return len(ids) == 10 && !slices.Contains(ids, fresh.ItemID)
	}, 30*time.Second, 50*time.Millisecond, "the withdrawn item disappears")
	require.Equal(t, len(catalogue), p.Engine().catalog.Len())
	require.False(t, p.Engine().Knows(fresh.ItemID), "events on a withdrawn item are dead letters, as after a restart")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	cold := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "sessionrec_catalog_cold_items_total" {
			cold = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	require.InDelta(t, 1, cold, 0, "one item embedded cold")
	stop()
	// The store holds the catalogue and where on the topic it ends.
	db, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	stored := 0
	require.NoError(t, db.Items(func(string, []byte) bool { stored++; return true }))
	require.Equal(t, len(catalogue), stored, "the withdrawn and the malformed item are not stored")
	next, err := db.ItemsOffset(0)
	require.NoError(t, err)
	ends, err := adm.EndOffsets(t.Context(), names.Items)
	require.NoError(t, err)
	require.Equal(t, ends[0], next)
	require.NoError(t, db.Close())

	// A restart has the catalogue from its store before reading the
	// topic's tail, and the withdrawn item stays withdrawn.
	another := topics.Item{ItemID: "cat-food-new-2", Name: like.Name + " newer", Category: like.Category, Brand: like.Brand, Price: like.Price}
	require.NoError(t, prod.SendItems(t.Context(), another))
	p, _, _, stop = start()
	defer stop()
	e := p.Engine()
	require.Equal(t, len(catalogue)+1, e.catalog.Len())
	require.True(t, e.catalog.Live(another.ItemID))
	require.False(t, e.catalog.Live(fresh.ItemID))
}

// shopOnTopics creates topics of the test's own (2 partitions) and puts
// the synthetic shop's catalogue on the items topic. The admin and the
// producer are closed when the test ends.
func shopOnTopics(t *testing.T, brokers []string) (topics.Names, *topics.Admin, *topics.Producer, *synth.Shop, []topics.Item) {
	t.Helper()
	names := uniqueNames(t)
	adm, err := topics.NewAdmin(brokers)
	require.NoError(t, err)
	t.Cleanup(adm.Close)
	require.NoError(t, adm.Create(t.Context(), names, topics.TopicConfig{Partitions: 2}))
	shop := synth.NewShop(1)
	var catalogue []topics.Item
	for _, it := range testItems(shop) {
		catalogue = append(catalogue, topics.Item{ItemID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price})
	}
	prod := topics.NewProducer(brokers, names)
	t.Cleanup(func() { require.NoError(t, prod.Close()) })
	require.NoError(t, prod.SendItems(t.Context(), catalogue...))
	return names, adm, prod, shop, catalogue
}
