package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/sessionrec/sessionrec/model"
	"github.com/sessionrec/sessionrec/store"
	"github.com/sessionrec/sessionrec/topics"
)

// The query API (see openapi.json, served at GET /v1/openapi.json):
//
//	GET /v1/users/{id}/recommendations  fresh recommendations from the
//	                                    user's current state, with knobs
//	GET /v1/users/{id}/session          the current session and intents
//	GET /v1/items/{id}/similar          the items closest to one item
//	GET /v1/items/{id}                  one catalogue item's features
//	GET /v1/users                       the users recently active here
//	GET /v1/embedding                   the catalogue's map (embedding.go)
//	GET /v1/stream                      server-sent events of what the
//	                                    workers apply and publish
//	                                    (stream.go)
//
// Every answer is JSON; an error is {"error": "..."} with its status: 400
// for a bad parameter (the message names it) or a ranking above the work
// cap (APIConfig.MaxWork, naming k), 404 for an unknown user or item, 421
// for a user whose partition another instance owns, 429 with Retry-After
// when APIConfig.MaxInFlight requests are in flight already, 503 while no
// model is loaded or the instance is not in the group, or when the answer
// was not ready by the request's deadline (APIConfig.Timeout).

// apiParam is a query parameter of the API. The parsers and the OpenAPI
// test both read this table, so the description cannot drift from the
// code.
type apiParam struct {
	name string
	// typ is the OpenAPI type: integer, number, boolean or string.
	typ string
	// lo and hi bound a number (hi +Inf: no upper bound); both 0 for
	// other types.
	lo, hi float64
}

// The parameters' bounds.
var (
	paramK        = apiParam{"k", "integer", 1, model.MaxK}
	paramUnit     = func(name string) apiParam { return apiParam{name, "number", 0, 1} }
	paramPrice    = func(name string) apiParam { return apiParam{name, "number", 0, math.Inf(1)} }
	paramString   = func(name string) apiParam { return apiParam{name: name, typ: "string"} }
	paramBoolean  = func(name string) apiParam { return apiParam{name: name, typ: "boolean"} }
	paramDiv      = paramUnit("diversity")
	paramHistory  = paramUnit("history")
	paramNeighb   = paramUnit("neighbours")
	paramMinPrice = paramPrice("min_price")
	paramMaxPrice = paramPrice("max_price")
)

// recommendationParams are the knobs of GET /v1/users/{id}/recommendations.
var recommendationParams = []apiParam{
	paramK, paramDiv, paramHistory, paramNeighb, paramString("half_life"),
	paramBoolean("exclude_seen"), paramString("category"), paramString("brand"),
	paramMinPrice, paramMaxPrice,
}

// similarParams are the parameters of GET /v1/items/{id}/similar.
var similarParams = []apiParam{paramK}

// RecommendationsResponse is the answer of GET /v1/users/{id}/recommendations:
// the recommendation record the processor would publish, computed now with
// the request's knobs, without the input record that triggered it.
type RecommendationsResponse struct {
	UserID       string                   `json:"user_id"`
	SessionID    string                   `json:"session_id"`
	Intents      []topics.Intent          `json:"intents"`
	Items        []topics.RecommendedItem `json:"items"`
	Knobs        topics.Knobs             `json:"knobs"`
	ModelVersion string                   `json:"model_version"`
	// Arm is the user's arm of an A/B split, "" without one; ModelVersion
	// is the other arm's while the user's arm falls back.
	Arm        string    `json:"arm"`
	ProducedAt time.Time `json:"produced_at"`
}

// SessionResponse is the answer of GET /v1/users/{id}/session.
type SessionResponse struct {
	UserID    string `json:"user_id"`
	SessionID string `json:"session_id"`
	// Events are the current session's events, oldest first.
	Events []SessionEvent `json:"events"`
	// Intents are the current session's intents.
	Intents []topics.Intent `json:"intents"`
	// PastIntents are the intents kept from previous sessions, newest
	// first.
	PastIntents []topics.Intent `json:"past_intents"`
	// Applied counts the user's events applied, all sessions.
	Applied uint64 `json:"applied"`
	// SessionsClosed counts the user's sessions closed.
	SessionsClosed uint64 `json:"sessions_closed"`
	// ModelVersion is the version that found the intents, "" without a
	// model.
	ModelVersion string `json:"model_version"`
	// Arm is the user's arm of an A/B split, "" without one (or without a
	// model).
	Arm string `json:"arm"`
}

// SessionEvent is one event of a session.
type SessionEvent struct {
	ItemID string    `json:"item_id"`
	Kind   string    `json:"kind"`
	Time   time.Time `json:"ts"`
}

// SimilarResponse is the answer of GET /v1/items/{id}/similar.
type SimilarResponse struct {
	ItemID       string        `json:"item_id"`
	Items        []SimilarItem `json:"items"`
	ModelVersion string        `json:"model_version"`
}

// SimilarItem is an item and its cosine similarity to the asked one.
type SimilarItem struct {
	ItemID string  `json:"item_id"`
	Score  float64 `json:"score"`
}

// errorResponse is the body of every error.
type errorResponse struct {
	Error string `json:"error"`
	// Partition and Owner are set on 421: the user's partition and the
	// API address of the instance that owns it, "" when unknown.
	Partition *int32 `json:"partition,omitempty"`
	Owner     string `json:"owner,omitempty"`
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	body   errorResponse
	// retryAfter, when > 0, is sent as the Retry-After header, in seconds.
	retryAfter int
}

func (e *apiError) Error() string { return e.body.Error }

func badParam(name, want, got string) *apiError {
	return &apiError{status: http.StatusBadRequest, body: errorResponse{
		Error: fmt.Sprintf("parameter %s: want %s, got %q", name, want, got)}}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: http.StatusNotFound, body: errorResponse{Error: fmt.Sprintf(format, args...)}}
}

func unavailable(msg string) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, body: errorResponse{Error: msg}}
}

// query reads typed query parameters, keeping the first error.
type query struct {
	v   map[string][]string
	err *apiError
}

func (q *query) raw(name string) (string, bool) {
	vs, ok := q.v[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	if len(vs) > 1 && q.err == nil {
		q.err = badParam(name, "one value", strings.Join(vs, ","))
	}
	return vs[0], true
}

func (q *query) int(p apiParam, def int) int {
	name, lo, hi := p.name, int(p.lo), int(p.hi)
	s, ok := q.raw(name)
	if !ok || q.err != nil {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		q.err = badParam(name, fmt.Sprintf("an integer from %d to %d", lo, hi), s)
		return def
	}
	return n
}

func (q *query) float(p apiParam, def float64) float64 {
	name, lo, hi := p.name, p.lo, p.hi
	s, ok := q.raw(name)
	if !ok || q.err != nil {
		return def
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < lo || f > hi {
		want := fmt.Sprintf("a number from %g to %g", lo, hi)
		if math.IsInf(hi, 1) {
			want = fmt.Sprintf("a number >= %g", lo)
		}
		q.err = badParam(name, want, s)
		return def
	}
	return f
}

func (q *query) bool(name string, def bool) bool {
	s, ok := q.raw(name)
	if !ok || q.err != nil {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		q.err = badParam(name, "true or false", s)
		return def
	}
	return b
}

func (q *query) duration(name string, def time.Duration) time.Duration {
	s, ok := q.raw(name)
	if !ok || q.err != nil {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		q.err = badParam(name, "a positive duration such as 90m or 24h", s)
		return def
	}
	return d
}

func (q *query) string(name string) string {
	s, _ := q.raw(name)
	return s
}

// checkKnown fails on a parameter the route does not take: a typo must not
// silently fall back to a default.
func (q *query) checkKnown(params []apiParam) {
	if q.err != nil {
		return
	}
	for name := range q.v {
		known := false
		for _, p := range params {
			known = known || p.name == name
		}
		if !known {
			takes := "none"
			if len(params) > 0 {
				names := make([]string, len(params))
				for i, p := range params {
					names[i] = p.name
				}
				takes = strings.Join(names, ", ")
			}
			q.err = &apiError{status: http.StatusBadRequest, body: errorResponse{
				Error: fmt.Sprintf("parameter %s: unknown; this route takes %s", name, takes)}}
			return
		}
	}
}

// queryAPI is the query API: it answers from the store's state of the
// partitions the instance owns, with the serving engine. The processor
// tells it where users are (their partition, whether this instance owns
// it, and which member does).
type queryAPI struct {
	cfg    *Config
	db     *store.DB
	engine func() *Engine
	// partitions returns the input partitions, nil before they are known.
	partitions func() *[]int
	// owned returns the last committed checkpoint of a partition the
	// instance owns, false for any other.
	owned func(part int32) (store.Checkpoint, bool)
	// ownerOf returns the advertised API address of a partition's owner.
	ownerOf func(part int32) string
	// live is the feed of what the workers apply and publish.
	live *liveFeed
	// attr are the attribution counts (attribution.go).
	attr *attribution
	// embedding caches the serving engine's catalogue map.
	embedding embeddingCache
}

// routeAPI adds the query API's routes to mux, each request admitted by
// lim.
func (qa *queryAPI) routeAPI(mux *http.ServeMux, lim *apiLimits, observe func(route string, status int, took time.Duration)) {
	handle := func(pattern string, h func(ctx context.Context, r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			body, err := lim.admit(r, h)
			status := http.StatusOK
			if err != nil {
				var ae *apiError
				if !errors.As(err, &ae) {
					qa.cfg.Logger.Error("api", "route", pattern, "err", err)
					ae = &apiError{status: http.StatusInternalServerError, body: errorResponse{Error: "internal error"}}
				}
				if ae.retryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
				}
				status, body = ae.status, ae.body
			}
			observe(pattern, writeJSON(w, status, body), time.Since(start))
		})
	}
	// Anything else is a JSON 404 (or 405 for another method on a route),
	// counted like the rest.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		observe("other", writeJSON(w, http.StatusNotFound, errorResponse{Error: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)}), time.Since(start))
	})
	handle("GET /v1/users/{id}/recommendations", func(ctx context.Context, r *http.Request) (any, error) {
		return qa.apiRecommendations(ctx, r, lim)
	})
	handle("GET /v1/users/{id}/session", func(_ context.Context, r *http.Request) (any, error) { return qa.apiSession(r) })
	handle("GET /v1/items/{id}/similar", qa.apiSimilar)
	handle("GET /v1/items/{id}", func(_ context.Context, r *http.Request) (any, error) { return qa.apiItem(r) })
	handle("GET /v1/users", func(_ context.Context, r *http.Request) (any, error) { return qa.apiUsers(r) })
	handle("GET /v1/embedding", qa.apiEmbedding)
	handle("GET /v1/attribution", func(_ context.Context, r *http.Request) (any, error) { return qa.apiAttribution(r) })
	// The stream is no request like the others: it holds no slot in
	// flight and has no deadline (it is bounded by maxStreamClients).
	mux.HandleFunc("GET /v1/stream", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		observe("GET /v1/stream", qa.live.serveStream(w, r), time.Since(start))
	})
	mux.HandleFunc("GET /v1/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
}

// writeJSON writes body as JSON with status, and returns the status it
// wrote: 500 when the body does not encode.
func writeJSON(w http.ResponseWriter, status int, body any) int {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error: encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // the client went away: nothing to do
	return status
}

// murmur2 places keys as the producers do (the Java client's default).
var murmur2 kafka.Murmur2Balancer

// userState returns the stored state of a user this instance owns, and
// the partition's watermark.
func (qa *queryAPI) userState(id string) (*store.UserState, int64, error) {
	parts := qa.partitions()
	if parts == nil {
		return nil, 0, unavailable("not running: the partition layout is not known yet")
	}
	part := int32(murmur2.Balance(kafka.Message{Key: []byte(id)}, *parts...))
	cp, owned := qa.owned(part)
	if !owned {
		return nil, 0, &apiError{status: http.StatusMisdirectedRequest, body: errorResponse{
			Error:     fmt.Sprintf("user %q is in partition %d, which this instance does not own", id, part),
			Partition: &part, Owner: qa.ownerOf(part)}}
	}
	s, err := qa.db.User(part, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound("user %q: no events seen", id)
	}
	return s, cp.WatermarkMs, err
}

// knobs returns the defaults of the query API's knobs: the serving
// engine's, else the configured ones (parameters are checked even without
// a model).
func (qa *queryAPI) knobs(e *Engine) Knobs {
	if e != nil {
		return e.knobs
	}
	k := qa.cfg.Engine.Knobs
	k.fill()
	return k
}

func (qa *queryAPI) apiRecommendations(ctx context.Context, r *http.Request, lim *apiLimits) (any, error) {
	e := qa.engine()
	d := qa.knobs(e)
	q := &query{v: r.URL.Query()}
	q.checkKnown(recommendationParams)
	k := Knobs{
		K: q.int(paramK, d.K), Diversity: q.float(paramDiv, d.Diversity), History: q.float(paramHistory, d.History),
		HalfLife: q.duration("half_life", d.HalfLife), Neighbours: q.float(paramNeighb, d.Neighbours), ExcludeSeen: q.bool("exclude_seen", d.ExcludeSeen),
		KeepPurchased: d.KeepPurchased,
	}
	f := model.Filter{Category: q.string("category"), Brand: q.string("brand"),
		MinPrice: q.float(paramMinPrice, 0), MaxPrice: q.float(paramMaxPrice, 0)}
	if q.err == nil && f.MaxPrice > 0 && f.MinPrice > f.MaxPrice {
		q.err = badParam("max_price", fmt.Sprintf("a number >= min_price (%g)", f.MinPrice), q.string("max_price"))
	}
	if q.err == nil {
		q.err = lim.checkWork(k)
	}
	if q.err != nil {
		return nil, q.err
	}
	if e == nil {
		return nil, unavailable("no model loaded")
	}
	id := r.PathValue("id")
	s, wm, err := qa.userState(id)
	if err != nil {
		return nil, err
	}
	// Past intents fade by event time, as in the published records: the
	// partition's clock is its watermark, or the user's last event when
	// that is later.
	cur := qa.cfg.Sessions.Current(s)
	ue, arm := userEngine(e, id) // the user's arm's, with an A/B split
	rk, err := ue.rank(ctx, s, cur, ue.Intents(cur, s.Past), time.UnixMilli(max(s.LastEventMs, wm)), k, f)
	if err != nil {
		return nil, err
	}
	now := qa.cfg.Now()
	rec := ue.record(id, s, rk, topics.Source{}, now, k, f)
	return RecommendationsResponse{UserID: rec.UserID, SessionID: rec.SessionID, Intents: nonNil(rec.Intents),
		Items: nonNil(rec.Items), Knobs: rec.Knobs, ModelVersion: rec.ModelVersion, Arm: arm, ProducedAt: now.UTC()}, nil
}

func (qa *queryAPI) apiSession(r *http.Request) (any, error) {
	q := &query{v: r.URL.Query()}
	if q.checkKnown(nil); q.err != nil {
		return nil, q.err
	}
	id := r.PathValue("id")
	s, _, err := qa.userState(id)
	if err != nil {
		return nil, err
	}
	out := SessionResponse{UserID: id, SessionID: s.SessionID, Applied: s.Applied, SessionsClosed: s.Sessions,
		Events: []SessionEvent{}, Intents: []topics.Intent{}, PastIntents: []topics.Intent{}}
	cur := qa.cfg.Sessions.Current(s)
	for _, ev := range cur {
		kind := "click"
		if ev.Kind == store.Purchase {
			kind = "purchase"
		}
		out.Events = append(out.Events, SessionEvent{ItemID: ev.ItemID, Kind: kind, Time: time.UnixMilli(ev.TimeMs).UTC()})
	}
	if e := qa.engine(); e != nil {
		ue, arm := userEngine(e, id)
		out.ModelVersion, out.Arm = ue.version, arm
		for _, in := range ue.Intents(cur, s.Past) {
			out.Intents = append(out.Intents, topicIntent(in))
		}
	}
	for _, in := range pastIntents(s.Past) {
		out.PastIntents = append(out.PastIntents, topicIntent(in))
	}
	return out, nil
}

func (qa *queryAPI) apiSimilar(ctx context.Context, r *http.Request) (any, error) {
	e := qa.engine()
	q := &query{v: r.URL.Query()}
	q.checkKnown(similarParams)
	k := q.int(paramK, qa.knobs(e).K)
	if q.err != nil {
		return nil, q.err
	}
	if e == nil {
		return nil, unavailable("no model loaded")
	}
	id := r.PathValue("id")
	row, ok := e.catalog.Row(id)
	if !ok || !e.catalog.Live(id) {
		return nil, notFound("item %q is not in the catalogue", id)
	}
	rk, err := e.catalog.RankContext(ctx, []model.Intent{{ID: id, Items: []string{id}, Centroid: e.catalog.Vector(row), Weight: 1}}, nil,
		model.RankOptions{K: k, Filter: model.Filter{Exclude: []string{id}}})
	if err != nil {
		return nil, err
	}
	out := SimilarResponse{ItemID: id, ModelVersion: e.version, Items: make([]SimilarItem, 0, len(rk.Items))}
	for _, it := range rk.Items {
		out.Items = append(out.Items, SimilarItem{ItemID: it.ItemID, Score: float64(it.Score)})
	}
	return out, nil
}

// ItemResponse is the answer of GET /v1/items/{id}: what the catalogue
// knows of an item.
type ItemResponse struct {
	ItemID   string `json:"item_id"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Brand    string `json:"brand"`
	// Price is null when unknown.
	Price *float64 `json:"price"`
}

func (qa *queryAPI) apiItem(r *http.Request) (any, error) {
	q := &query{v: r.URL.Query()}
	if q.checkKnown(nil); q.err != nil {
		return nil, q.err
	}
	e := qa.engine()
	if e == nil {
		return nil, unavailable("no model loaded")
	}
	id := r.PathValue("id")
	// A withdrawn item keeps its row: sessions may hold it.
	row, ok := e.catalog.Row(id)
	if !ok {
		return nil, notFound("item %q is not in the catalogue", id)
	}
	it := e.catalog.Item(row)
	out := ItemResponse{ItemID: it.ID, Name: it.Name, Category: it.Category, Brand: it.Brand}
	if it.Price > 0 && !math.IsInf(it.Price, 0) {
		out.Price = &it.Price
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
