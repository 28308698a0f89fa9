package dataset

import (
	"io"
	"strconv"
	"strings"
	"time"
)

// rees46TimeLayout is the layout of event_time without its " UTC" suffix.
const rees46TimeLayout = time.DateTime

// rees46Header is the header line of the Kaggle release's files; the
// columns of a file without it are the same.
const rees46Header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"

// ParseREES46 parses a REES46 / Open CDP event log (the "eCommerce behavior
// data" of the multi-category store or of the cosmetics shop) with the
// columns event_time,event_type,product_id,category_id,category_code,brand,
// price,user_id,user_session. The first line may be the header naming
// exactly those columns, as in the Kaggle release, or already an event, as
// in a slice cut from the middle of a file; a header on any other line, or
// a first line that starts with "event_time," but names other columns, is
// an error.
//
// Sessions are keyed by user_session, with User = user_id. Event types map
// as: view and cart to [Click] (a cart add is a strong click, and the
// common form has no third kind), purchase to [Purchase];
// remove_from_cart rows are dropped, and so are rows without a
// user_session, which cannot be placed in a session. Events are ordered
// by event_time within a session (stably), sessions by their first event.
//
// The returned items map has an [Item] for every product, including those
// of dropped rows: Category is category_code (a dotted path such as
// "electronics.smartphone") when any row of the product has one, else
// category_id; Brand and Price (0 when empty) come from the rows, the last
// non-empty value in file order winning. A
// malformed line (wrong field count, bad time, unknown event type, bad
// price) yields a *[ParseError] with its line number.
func ParseREES46(r io.Reader) ([]Session, map[string]Item, error) {
	lr := newLineReader(r)
	b := newSessionBuilder()
	items := make(map[string]Item)
	for {
		line, n, ok := lr.next()
		if !ok {
			break
		}
		if n == 1 && strings.HasPrefix(line, "event_time,") {
			if line != rees46Header {
				return nil, nil, lineErr(n, "header: got %q, want %q", line, rees46Header)
			}
			continue
		}
		f, err := fields(line, n, ",", 9)
		if err != nil {
			return nil, nil, err
		}
		ts, ok := strings.CutSuffix(f[0], " UTC")
		if !ok {
			return nil, nil, lineErr(n, "event_time %q: want a \" UTC\" suffix", f[0])
		}
		t, err := time.Parse(rees46TimeLayout, ts)
		if err != nil {
			return nil, nil, lineErr(n, "event_time: %w", err)
		}
		var kind Kind
		removed := false
		switch f[1] {
		case "view", "cart":
			kind = Click
		case "purchase":
			kind = Purchase
		case "remove_from_cart":
			removed = true
		default:
			return nil, nil, lineErr(n, "unknown event_type %q", f[1])
		}
		product := f[2]
		if product == "" {
			return nil, nil, lineErr(n, "empty product_id")
		}
		var price float64
		if f[6] != "" {
			if price, err = strconv.ParseFloat(f[6], 64); err != nil || price < 0 {
				return nil, nil, lineErr(n, "price %q: want a number >= 0", f[6])
			}
		}
		mergeItem(items, product, f[4], f[3], f[5], price)
		if removed || f[8] == "" {
			continue
		}
		b.add(f[8], f[7], Event{Item: product, Time: t, Kind: kind})
	}
	if err := lr.err(); err != nil {
		return nil, nil, err
	}
	return b.finish(), items, nil
}

// mergeItem records a row's features of item id. A category code beats a
// category id whatever the row order; otherwise a non-empty (non-zero)
// value replaces an earlier one.
func mergeItem(items map[string]Item, id, code, categoryID, brand string, price float64) {
	it := items[id]
	it.ID = id
	switch {
	case code != "":
		it.Category = code
	case it.Category == "":
		it.Category = categoryID
	}
	if brand != "" {
		it.Brand = brand
	}
	if price != 0 {
		it.Price = price
	}
	items[id] = it
}
