package dataset

import (
	"io"
	"strconv"
	"time"
)

// Headers of the Diginetica files.
const (
	digineticaViewsHeader      = "session_id;user_id;item_id;timeframe;eventdate"
	digineticaPurchasesHeader  = "sessionId;userId;timeframe;eventdate;ordernumber;itemId"
	digineticaCategoriesHeader = "itemId;categoryId"
)

// digineticaRow is one parsed view or purchase.
type digineticaRow struct {
	session, user, item string
	// timeframe is milliseconds since the session started.
	timeframe int64
	// date is the event's date at UTC midnight.
	date time.Time
}

// ParseDiginetica parses the CIKM Cup 2016 Diginetica files: item views
// (sample_train-item-views.csv, ';'-separated with a header), purchases
// (train-purchases.csv) and the item-to-category map
// (product-categories.csv). purchases and categories may be nil.
//
// Sessions are those of the views file; each view is a [Click]. Purchases
// share the session id space; a purchase becomes a [Purchase] event of its
// session when that session has views, and is dropped otherwise (the views
// file is a sample, so most purchases fall in sessions it does not hold,
// and a session of purchases alone has no clicks to learn from).
//
// Times: timeframe is milliseconds since the session started and eventdate
// the date of the event, so a session that crosses midnight changes date
// part way (session 2205 in the sample does). An event's time is therefore
// the session's earliest view date (UTC midnight) plus its timeframe, which
// keeps times in timeframe order; the time of day is unknown, so absolute
// times can be off by up to a day. Events are ordered by timeframe (views
// before purchases on ties, then file order), sessions by their first
// event.
//
// User is the first user id that is not "NA" among the session's views,
// then its purchases; "" when all are "NA". The returned items map holds an
// [Item] with its Category for every item of the returned sessions (with
// Category "" if the map lacks it).
//
// A malformed line yields a *[ParseError] whose File says which input it
// came from: [DigineticaViewsFile], [DigineticaPurchasesFile] or
// [DigineticaCategoriesFile] (paths relative to the data directory).
func ParseDiginetica(views, purchases, categories io.Reader) ([]Session, map[string]Item, error) {
	viewRows, err := parseDigineticaRows(views, digineticaViews)
	if err != nil {
		return nil, nil, withFile(err, DigineticaViewsFile)
	}
	base := make(map[string]time.Time)
	for _, r := range viewRows {
		if d, ok := base[r.session]; !ok || r.date.Before(d) {
			base[r.session] = r.date
		}
	}
	var buyRows []digineticaRow
	if purchases != nil {
		all, err := parseDigineticaRows(purchases, digineticaPurchases)
		if err != nil {
			return nil, nil, withFile(err, DigineticaPurchasesFile)
		}
		for _, r := range all {
			if _, ok := base[r.session]; ok {
				buyRows = append(buyRows, r)
			}
		}
	}

	b := newSessionBuilder()
	items := make(map[string]Item)
	add := func(rows []digineticaRow, kind Kind) {
		for _, r := range rows {
			t := base[r.session].Add(time.Duration(r.timeframe) * time.Millisecond)
			b.add(r.session, r.user, Event{Item: r.item, Time: t, Kind: kind})
			items[r.item] = Item{ID: r.item}
		}
	}
	add(viewRows, Click)
	add(buyRows, Purchase)

	if categories != nil {
		if err := parseDigineticaCategories(categories, items); err != nil {
			return nil, nil, withFile(err, DigineticaCategoriesFile)
		}
	}
	return b.finish(), items, nil
}

// digineticaLayout says where a file's columns stand: its header, its
// number of fields and the index of session, user, item, timeframe and
// date.
type digineticaLayout struct {
	header string
	fields int
	cols   [5]int
}

var (
	digineticaViews     = digineticaLayout{digineticaViewsHeader, 5, [5]int{0, 1, 2, 3, 4}}
	digineticaPurchases = digineticaLayout{digineticaPurchasesHeader, 6, [5]int{0, 1, 5, 2, 3}}
)

// parseDigineticaRows reads the views or the purchases file.
func parseDigineticaRows(r io.Reader, l digineticaLayout) ([]digineticaRow, error) {
	lr := newLineReader(r)
	if err := lr.header(l.header); err != nil {
		return nil, err
	}
	var rows []digineticaRow
	for {
		line, n, ok := lr.next()
		if !ok {
			break
		}
		f, err := fields(line, n, ";", l.fields)
		if err != nil {
			return nil, err
		}
		c := l.cols
		row, err := digineticaRecord(n, f[c[0]], f[c[1]], f[c[2]], f[c[3]], f[c[4]])
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, lr.err()
}

// digineticaRecord validates and converts the fields shared by views and
// purchases.
func digineticaRecord(n int, session, user, item, timeframe, date string) (digineticaRow, error) {
	if session == "" || item == "" {
		return digineticaRow{}, lineErr(n, "empty session or item id")
	}
	if user == "NA" {
		user = ""
	}
	tf, err := strconv.ParseInt(timeframe, 10, 64)
	if err != nil || tf < 0 {
		return digineticaRow{}, lineErr(n, "timeframe %q: want milliseconds >= 0", timeframe)
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return digineticaRow{}, lineErr(n, "eventdate: %w", err)
	}
	return digineticaRow{session: session, user: user, item: item, timeframe: tf, date: d}, nil
}

// parseDigineticaCategories reads the whole map (so that every line is
// checked) and fills in Category for the items already in items.
func parseDigineticaCategories(r io.Reader, items map[string]Item) error {
	lr := newLineReader(r)
	if err := lr.header(digineticaCategoriesHeader); err != nil {
		return err
	}
	for {
		line, n, ok := lr.next()
		if !ok {
			break
		}
		f, err := fields(line, n, ";", 2)
		if err != nil {
			return err
		}
		if f[0] == "" || f[1] == "" {
			return lineErr(n, "empty item or category id: %q", line)
		}
		if it, ok := items[f[0]]; ok {
			it.Category = f[1]
			items[f[0]] = it
		}
	}
	return lr.err()
}
