// Package synth generates a deterministic synthetic shop: a catalogue with
// realistic names, categories, brands and prices, and users whose sessions
// move between planted intents (cat food, then a cat toy). The demo, the
// tests and the benchmarks run on it. It depends on nothing but the
// standard library; callers convert its types to theirs.
package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Item is a catalogue item.
type Item struct {
	ID, Name, Category, Brand string
	Price                     float64
}

// Event is one event of a generated session.
type Event struct {
	UserID   string
	ItemID   string
	Time     time.Time
	Purchase bool
}

// Topic is a kind of product: the planted structure. Items of one topic
// share name words, a category and a brand set.
type Topic struct {
	Category string
	Words    string
	Brands   []string
	Price    float64 // typical price
}

// Topics are the shop's kinds of product.
func Topics() []Topic {
	return []Topic{
		{"pets.cat.food", "cat food", []string{"whiskas", "felix", "purina"}, 12},
		{"pets.cat.toys", "cat toy mouse", []string{"kong", "trixie"}, 6},
		{"pets.dog.food", "dog food", []string{"pedigree", "purina", "chappi"}, 25},
		{"electronics.smartphone", "smartphone", []string{"samsung", "apple", "xiaomi"}, 600},
		{"electronics.smartphone.case", "phone case", []string{"spigen", "otterbox"}, 20},
		{"home.kitchen.coffee", "coffee maker", []string{"delonghi", "krups"}, 150},
		{"sports.running.shoes", "running shoes", []string{"asics", "nike", "adidas"}, 110},
		{"books.fiction", "novel paperback", []string{"penguin", "vintage"}, 15},
	}
}

var variants = []string{"classic", "premium", "mini", "large", "pro", "lite", "plus", "eco", "max", "family"}

// Shop is a generated catalogue.
type Shop struct {
	Items []Item
	// ByTopic lists the indices into Items of each topic of Topics().
	ByTopic [][]int
	// TopicOf gives the topic index of an item ID.
	TopicOf map[string]int
}

// NewShop generates the catalogue: every topic × brand × variant (200
// items), with prices scattered around the topic's. The same seed gives the
// same shop.
func NewShop(seed uint64) *Shop { return NewShopSize(seed, 0) }

// NewShopSize is NewShop with at least n items: beyond the 200 of NewShop,
// numbered models of each topic × brand × variant ("Whiskas cat food
// classic 17"), round-robin over the topics. n <= 200 gives NewShop.
func NewShopSize(seed uint64, n int) *Shop {
	rng := rand.New(rand.NewPCG(seed, 2))
	tps := Topics()
	s := &Shop{ByTopic: make([][]int, len(tps)), TopicOf: map[string]int{}}
	add := func(ti int, b, v string, model int) {
		tp := tps[ti]
		id := fmt.Sprintf("%s-%s-%s", strings.ReplaceAll(tp.Words, " ", "_"), b, v)
		name := fmt.Sprintf("%s %s %s", strings.ToUpper(b[:1])+b[1:], tp.Words, v)
		if model > 0 {
			id += fmt.Sprintf("-%d", model)
			name += fmt.Sprintf(" %d", model)
		}
		s.ByTopic[ti] = append(s.ByTopic[ti], len(s.Items))
		s.TopicOf[id] = ti
		s.Items = append(s.Items, Item{
			ID: id, Name: name, Category: tp.Category, Brand: b,
			Price: math.Round(tp.Price*math.Exp(rng.NormFloat64()*0.3)*100) / 100,
		})
	}
	for model := 0; model == 0 || len(s.Items) < n; model++ {
		for ti, tp := range tps {
			for _, b := range tp.Brands {
				for _, v := range variants {
					if model == 0 || len(s.Items) < n {
						add(ti, b, v, model)
					}
				}
			}
		}
	}
	return s
}

// SessionConfig shapes generated sessions. Zero fields mean their defaults.
type SessionConfig struct {
	// Users is the number of users. Default 100.
	Users int
	// Sessions is the number of sessions. Default 1000.
	Sessions int
	// Start is the time of the first event. Default 2026-01-01 UTC.
	Start time.Time
	// Purchase is the probability that a session ends in a purchase.
	// Default 0.8.
	Purchase float64
	// Spacing is the time between the starts of consecutive sessions.
	// Default 30s.
	Spacing time.Duration
	// EventGap is the mean time between a session's events; they are
	// spread uniformly from 0.4 to 1.6 times it. Default 75s.
	EventGap time.Duration
	// Rest is the least time between the end of a user's session and
	// their next. Default 1h.
	Rest time.Duration
}

// Sessions generates sessions of the shop's users, each browsing one or two
// topics (2 to 5 items each, a minute or two apart) and mostly ending in a
// purchase, in time order over all users: sessions start Spacing apart and
// interleave, and a user's sessions are at least an hour apart.
func (s *Shop) Sessions(seed uint64, cfg SessionConfig) [][]Event {
	if cfg.Users == 0 {
		cfg.Users = 100
	}
	if cfg.Sessions == 0 {
		cfg.Sessions = 1000
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if cfg.Purchase == 0 {
		cfg.Purchase = 0.8
	}
	if cfg.Spacing == 0 {
		cfg.Spacing = 30 * time.Second
	}
	if cfg.EventGap == 0 {
		cfg.EventGap = 75 * time.Second
	}
	if cfg.Rest == 0 {
		cfg.Rest = time.Hour
	}
	rng := rand.New(rand.NewPCG(seed, 3))
	free := make([]time.Time, cfg.Users) // when each user may start again
	out := make([][]Event, 0, cfg.Sessions)
	for i := range cfg.Sessions {
		start := cfg.Start.Add(time.Duration(i) * cfg.Spacing)
		u := rng.IntN(cfg.Users)
		if start.Before(free[u]) {
			start = free[u]
		}
		user := fmt.Sprintf("user-%04d", u)
		t := start
		var evs []Event
		for range 1 + rng.IntN(2) {
			ti := rng.IntN(len(s.ByTopic))
			for range 2 + rng.IntN(4) {
				it := s.Items[s.ByTopic[ti][rng.IntN(len(s.ByTopic[ti]))]]
				evs = append(evs, Event{UserID: user, ItemID: it.ID, Time: t})
				t = t.Add(time.Duration(float64(cfg.EventGap) * (0.4 + 1.2*rng.Float64())).Truncate(time.Millisecond))
			}
		}
		if rng.Float64() < cfg.Purchase {
			evs[len(evs)-1].Purchase = true
		}
		free[u] = t.Add(cfg.Rest)
		out = append(out, evs)
	}
	return out
}

// Stream merges sessions into one stream in event-time order (stable for
// equal times), as a shop's event stream arrives.
func Stream(sessions [][]Event) []Event {
	var out []Event
	for _, s := range sessions {
		out = append(out, s...)
	}
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}
