package dataset_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionrec/sessionrec/topics/dataset"
)

// stats summarises a loaded dataset for comparison with the data README.
type stats struct {
	train, test         int // sessions
	events, purchases   int
	items               int // distinct items in events
	trainItems          int // distinct items in train events
	users               int // distinct non-empty users
	catalogue, withCats int // len(Items), items with a category
	hasTime             bool
}

func collect(t *testing.T, d *dataset.Dataset) stats {
	t.Helper()
	s := stats{train: len(d.Train), test: len(d.Test), catalogue: len(d.Items), hasTime: d.HasTime}
	items, trainItems, users := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for side, sessions := range [][]dataset.Session{d.Train, d.Test} {
		for _, ss := range sessions {
			if ss.User != "" {
				users[ss.User] = true
			}
			for i, e := range ss.Events {
				if i > 0 && e.Time.Before(ss.Events[i-1].Time) {
					t.Errorf("session %s: event %d at %v before event %d at %v", ss.ID, i, e.Time, i-1, ss.Events[i-1].Time)
				}
				s.events++
				if e.Kind == dataset.Purchase {
					s.purchases++
				}
				items[e.Item] = true
				if side == 0 {
					trainItems[e.Item] = true
				}
			}
		}
	}
	// Each side is in order of session start.
	for _, side := range [][]dataset.Session{d.Train, d.Test} {
		for i := 1; i < len(side); i++ {
			if side[i].Start().Before(side[i-1].Start()) {
				t.Errorf("session %d (%s) starts at %v, before session %d at %v", i, side[i].ID, side[i].Start(), i-1, side[i-1].Start())
			}
		}
	}
	for _, it := range d.Items {
		if it.Category != "" {
			s.withCats++
		}
	}
	s.items, s.trainItems, s.users = len(items), len(trainItems), len(users)
	return s
}

func TestLoadRealData(t *testing.T) {
	dir := dataDir(t)
	tests := []struct {
		name string
		want stats
	}{
		// Counts from shared/data/README.md and shared/BASELINES.md; the
		// yoochoose-valid ones were counted with awk from the files.
		{dataset.Yoochoose, stats{train: 17794, test: 3416, events: 70278 + 13568, items: 2933, trainItems: 2933, hasTime: true}},
		{dataset.YoochooseValid, stats{train: 13629, test: 4084, events: 53254 + 16539, items: 2873, trainItems: 2873, hasTime: true}},
		{dataset.DigineticaSeq, stats{train: 63680, test: 7076, events: 0, items: 38970, trainItems: 38842}},
		{dataset.DigineticaSeqValid, stats{train: 57312, test: 6368, events: 0, items: 0, trainItems: 0}},
		// 7,139 viewed items and 1,270 users in the views; the 256 kept
		// purchases add 84 items never viewed in the sample and 5 users of
		// sessions anonymous in the views.
		{dataset.Diginetica, stats{train: 2687, test: 299, events: 12391 + 256, purchases: 256, items: 7139 + 84, trainItems: 0, users: 1270 + 5, catalogue: 7139 + 84, withCats: 7139 + 84, hasTime: true}},
		{dataset.REES46, stats{train: 216, test: 24, events: 683, purchases: 2, items: 490, trainItems: 0, users: 233, catalogue: 490, withCats: 490, hasTime: true}},
		// Counted once with a short Python script over the csv module's
		// rows of the file: of the 20,286 rows, 4,171 remove_from_cart
		// and 10 without a user_session are dropped, leaving 16,110 events
		// (all 1,346 purchases) in 4,850 sessions of 3,161 users; sorted
		// stably by first event_time, 4850*90/100 = 4365 train. 6,682
		// products in events, 6,358 in train ones; 7,267 in all rows.
		{dataset.REES46Cosmetics, stats{train: 4365, test: 485, events: 16110, purchases: 1346, items: 6682, trainItems: 6358, users: 3161, catalogue: 7267, withCats: 7267, hasTime: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := dataset.Load(dir, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != tc.name {
				t.Errorf("got name %q, want %q", d.Name, tc.name)
			}
			got := collect(t, d)
			// Zero fields in want are not checked (counts not published).
			if tc.want.events == 0 {
				got.events = 0
			}
			if tc.want.items == 0 {
				got.items = 0
			}
			if tc.want.trainItems == 0 {
				got.trainItems = 0
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestLoadDigineticaSeqEvents checks the mean session length (8.2 in the
// README) and that the valid split is a prefix of the full train side.
func TestLoadDigineticaSeqEvents(t *testing.T) {
	dir := dataDir(t)
	full, err := dataset.Load(dir, dataset.DigineticaSeq)
	if err != nil {
		t.Fatal(err)
	}
	valid, err := dataset.Load(dir, dataset.DigineticaSeqValid)
	if err != nil {
		t.Fatal(err)
	}
	events, longest := 0, 0
	for _, s := range append(append([]dataset.Session(nil), full.Train...), full.Test...) {
		events += len(s.Events)
		longest = max(longest, len(s.Events))
	}
	if mean := float64(events) / 70756; mean < 8.15 || mean >= 8.25 {
		t.Errorf("got mean session length %.3f, want 8.2", mean)
	}
	if longest != 70 {
		t.Errorf("got longest session %d, want 70", longest)
	}
	if got, want := valid.Test[len(valid.Test)-1].ID, full.Train[len(full.Train)-1].ID; got != want {
		t.Errorf("got last valid test session %s, want the last train session %s", got, want)
	}
	if got, want := full.Test[0].ID, "63681"; got != want {
		t.Errorf("got first test session id %s, want line %s", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	empty := t.TempDir()
	_, err := dataset.Load(empty, dataset.REES46)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want fs.ErrNotExist", err)
	}
	if want := filepath.Join(empty, "rees46", "2019-Nov.head.csv"); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("missing file: got %v, want the path %s", err, want)
	}

	_, err = dataset.Load(empty, "movielens")
	if !errors.Is(err, dataset.ErrUnknownDataset) {
		t.Errorf("unknown name: got %v, want ErrUnknownDataset", err)
	}

	// A malformed line in a real file layout names the path and line.
	bad := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bad, "rees46"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(bad, "rees46", "2019-Nov.head.csv")
	if err := os.WriteFile(path, []byte("2019-11-01 00:00:00 UTC,view,1,20,,,1,u,s\nbroken\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = dataset.Load(bad, dataset.REES46)
	requireParseError(t, err, 2, path+":2:")
}

func TestFindDataDir(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "shared", "data")
	deep := filepath.Join(root, "repo", "model", "eval")
	for _, d := range []string{data, deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := dataset.FindDataDir(deep)
	if err != nil || got != data {
		t.Errorf("got %q, %v, want %q", got, err, data)
	}
	if _, err := dataset.FindDataDir(filepath.Join(root, "repo")); err != nil {
		t.Errorf("from the repo root: got %v, want success", err)
	}
}

func TestLoadDetails(t *testing.T) {
	dir := dataDir(t)
	t.Run(dataset.Diginetica, func(t *testing.T) {
		d, err := dataset.Load(dir, dataset.Diginetica)
		if err != nil {
			t.Fatal(err)
		}
		withBuy := 0
		for _, s := range append(append([]dataset.Session(nil), d.Train...), d.Test...) {
			for _, e := range s.Events {
				if e.Kind == dataset.Purchase {
					withBuy++
					break
				}
			}
			if s.ID == "2205" {
				// Crosses midnight (eventdate 2016-05-31 then 2016-06-01);
				// by timeframe it starts 37669 246593, 370520 391982,
				// 528275 399181, 621765 379920.
				got := strings.Join(s.Items()[:4], " ")
				if want := "246593 391982 399181 379920"; got != want {
					t.Errorf("session 2205: got first items %q, want %q", got, want)
				}
				if span := s.End().Sub(s.Start()); span > 20*time.Minute {
					t.Errorf("session 2205: got span %v, want under 20 minutes", span)
				}
			}
		}
		if withBuy != 138 {
			t.Errorf("got %d sessions with a purchase, want 138", withBuy)
		}
	})
	t.Run(dataset.REES46, func(t *testing.T) {
		d, err := dataset.Load(dir, dataset.REES46)
		if err != nil {
			t.Fatal(err)
		}
		withBuy := 0
		for _, s := range append(append([]dataset.Session(nil), d.Train...), d.Test...) {
			for _, e := range s.Events {
				if e.Kind == dataset.Purchase {
					withBuy++
					break
				}
			}
		}
		brands, codes := map[string]bool{}, map[string]bool{}
		for _, it := range d.Items {
			if it.Brand != "" {
				brands[it.Brand] = true
			}
			if strings.Contains(it.Category, ".") {
				codes[it.Category] = true
			}
			if it.Price <= 0 {
				t.Errorf("item %s: got price %v, want > 0 (every row has one)", it.ID, it.Price)
			}
		}
		if withBuy != 2 || len(brands) != 167 || len(codes) != 47 {
			t.Errorf("got %d sessions with a purchase, %d brands, %d category codes; want 2, 167, 47", withBuy, len(brands), len(codes))
		}
		if it := d.Items["1005014"]; it.Brand != "samsung" || it.Category != "electronics.smartphone" {
			t.Errorf("item 1005014: got %+v, want a samsung electronics.smartphone", it)
		}
	})
	t.Run(dataset.REES46Cosmetics, func(t *testing.T) {
		d, err := dataset.Load(dir, dataset.REES46Cosmetics)
		if err != nil {
			t.Fatal(err)
		}
		buys := [2]int{} // sessions with a purchase, train and test
		for side, sessions := range [][]dataset.Session{d.Train, d.Test} {
			for _, s := range sessions {
				for _, e := range s.Events {
					if e.Kind == dataset.Purchase {
						buys[side]++
						break
					}
				}
			}
		}
		// Counted as in TestLoadRealData: the per-item values are the last
		// non-empty ones of each product's rows; a category_code beats the
		// category_id. 11 products have only a price of 0.0 (unknown).
		var brands, codes, cats = map[string]bool{}, map[string]bool{}, map[string]bool{}
		var branded, priced int
		for _, it := range d.Items {
			if it.Brand != "" {
				brands[it.Brand] = true
				branded++
			}
			if it.Price > 0 {
				priced++
			}
			if strings.Contains(it.Category, ".") {
				codes[it.Category] = true
			}
			cats[it.Category] = true
		}
		got := []int{buys[0], buys[1], branded, len(brands), priced, len(codes), len(cats)}
		want := []int{122, 4, 3999, 170, 7256, 8, 353}
		if !slices.Equal(got, want) {
			t.Errorf("got sessions with a purchase (train, test), items with a brand, brands, items with a price, category codes, categories %v, want %v", got, want)
		}
		if it := d.Items["5764655"]; it.Brand != "cnd" || it.Category != "1487580005411062629" || it.Price != 29.05 {
			t.Errorf("item 5764655: got %+v, want brand cnd, category 1487580005411062629, price 29.05", it)
		}
	})
}
