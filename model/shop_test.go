package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// shopTopic is a kind of product of the synthetic shop.
type shopTopic struct {
	category string
	words    string
	brands   []string
	price    float64
}

var shopTopics = []shopTopic{
	{"pets.cat.food", "cat food", []string{"whiskas", "felix", "purina"}, 12},
	{"pets.cat.toys", "cat toy mouse", []string{"kong", "trixie"}, 6},
	{"pets.dog.food", "dog food", []string{"pedigree", "purina", "chappi"}, 25},
	{"electronics.smartphone", "smartphone", []string{"samsung", "apple", "xiaomi"}, 600},
	{"electronics.smartphone.case", "phone case", []string{"spigen", "otterbox"}, 20},
	{"home.kitchen.coffee", "coffee maker", []string{"delonghi", "krups"}, 150},
	{"sports.running.shoes", "running shoes", []string{"asics", "nike", "adidas"}, 110},
	{"books.fiction", "novel paperback", []string{"penguin", "vintage"}, 15},
}

var shopVariants = []string{"classic", "premium", "mini", "large", "pro", "lite", "plus", "eco", "max", "family"}

// shop is a deterministic synthetic catalogue with planted structure and
// sessions that each browse one or two topics and mostly end in a purchase.
type shop struct {
	items   []Item
	byTopic [][]int32
	corpus  Corpus
}

func newShop(seed uint64, sessions int) *shop {
	rng := rand.New(rand.NewPCG(seed, 2))
	s := &shop{byTopic: make([][]int32, len(shopTopics))}
	for ti, tp := range shopTopics {
		for _, b := range tp.brands {
			for _, v := range shopVariants {
				s.byTopic[ti] = append(s.byTopic[ti], int32(len(s.items)))
				s.items = append(s.items, Item{
					ID:       fmt.Sprintf("%s-%s-%s", strings.ReplaceAll(tp.words, " ", "_"), b, v),
					Name:     fmt.Sprintf("%s %s %s", strings.ToUpper(b[:1])+b[1:], tp.words, v),
					Category: tp.category, Brand: b,
					Price: math.Round(tp.price*math.Exp(rng.NormFloat64()*0.3)*100) / 100,
				})
			}
		}
	}
	s.corpus.Items = s.items
	for range sessions {
		var evs []Event
		for range 1 + rng.IntN(2) {
			ti := rng.IntN(len(shopTopics))
			for range 2 + rng.IntN(4) {
				evs = append(evs, Event{Item: s.byTopic[ti][rng.IntN(len(s.byTopic[ti]))]})
			}
		}
		if rng.Float64() < 0.8 {
			evs[len(evs)-1].Purchase = true
		}
		s.corpus.Sessions = append(s.corpus.Sessions, evs)
	}
	return s
}

// topicOf returns the topic index of an item ID of the shop.
func (s *shop) topicOf(id string) int {
	for ti, rows := range s.byTopic {
		for _, r := range rows {
			if s.items[r].ID == id {
				return ti
			}
		}
	}
	return -1
}
