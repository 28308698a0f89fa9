package model

import (
	"github.com/sessionrec/sessionrec/model/synth"
)

// shop is the synthetic shop (model/synth) as the trainer sees it: a
// catalogue with planted topics and sessions that each browse one or two
// topics and mostly end in a purchase.
type shop struct {
	items   []Item
	byTopic [][]int32
	topic   map[string]int
	corpus  Corpus
}

func newShop(seed uint64, sessions int) *shop {
	sh := synth.NewShop(seed)
	s := &shop{topic: sh.TopicOf, byTopic: make([][]int32, len(sh.ByTopic))}
	index := map[string]int32{}
	for i, it := range sh.Items {
		s.items = append(s.items, Item{ID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand, Price: it.Price})
		index[it.ID] = int32(i)
	}
	for ti, rows := range sh.ByTopic {
		for _, r := range rows {
			s.byTopic[ti] = append(s.byTopic[ti], int32(r))
		}
	}
	s.corpus.Items = s.items
	for _, sess := range sh.Sessions(seed, synth.SessionConfig{Sessions: sessions}) {
		evs := make([]Event, len(sess))
		for i, e := range sess {
			evs[i] = Event{Item: index[e.ItemID], Purchase: e.Purchase}
		}
		s.corpus.Sessions = append(s.corpus.Sessions, evs)
	}
	return s
}

// topicOf returns the topic index of an item ID of the shop, -1 for other
// items.
func (s *shop) topicOf(id string) int {
	if t, ok := s.topic[id]; ok {
		return t
	}
	return -1
}
