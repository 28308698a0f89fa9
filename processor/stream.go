package processor

import (
	"container/list"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The live feed: what the partition workers apply and publish, told as it
// happens to the clients of GET /v1/stream (server-sent events), and the
// users recently active on this instance (GET /v1/users).
//
// The workers hand each committed batch to the feed (liveFeed.batch),
// which never blocks them: every client has a buffer of messages (its
// channel, streamBufferFor), and a client whose buffer is full when a
// message comes is dropped there and then (its channel closed; its
// handler writes a dropped event and ends the stream), and counted. With
// no client, a batch costs the recent-users update and nothing else: no
// message is encoded.

// streamBuffer is the least number of messages a stream client may have
// waiting.
const streamBuffer = 256

// streamBufferFor is the buffer of each stream client with poll batches
// of batchSize records: streamBuffer, or room for a whole batch's
// messages when that is more (a batch of n records tells up to n applied
// events and n recommendation records at once), so that a client that
// keeps up is not dropped for one large batch. 1,000 with the default
// batch size of 500.
func streamBufferFor(batchSize int) int { return max(streamBuffer, 2*batchSize) }

// streamBurst is how many queued messages a stream writes before it
// flushes.
const streamBurst = 256

// maxStreamClients bounds the streams served at once; one more answers
// 503.
const maxStreamClients = 64

// streamPing is how often an idle stream sends a comment line, so that
// proxies and clients do not take it for dead.
const streamPing = 15 * time.Second

// streamWriteTimeout bounds each write to a stream client: a client that
// stops reading ends its stream rather than hold its handler for good.
const streamWriteTimeout = 10 * time.Second

// recentUsersMax bounds the users the recent-users list keeps.
const recentUsersMax = 1000

// streamParams are the parameters of GET /v1/stream.
var streamParams = []apiParam{paramString("user")}

// StreamApplied is the data of an "applied" event of GET /v1/stream: an
// event the processor applied to its user's session.
type StreamApplied struct {
	UserID string `json:"user_id"`
	ItemID string `json:"item_id"`
	// Kind is "click" or "purchase".
	Kind string    `json:"kind"`
	Time time.Time `json:"ts"`
}

// StreamDropped is the data of the "dropped" event GET /v1/stream sends
// (best effort) before it ends the stream of a client too slow to keep up.
type StreamDropped struct {
	Reason string `json:"reason"`
}

// StreamErased is the data of an "erased" event of GET /v1/stream: an
// erasure request forgot the user (and the events before it).
type StreamErased struct {
	UserID string `json:"user_id"`
}

// appliedEvent is an event a batch applied (pending.applied), or, with
// erased, an erasure request applied to the user.
type appliedEvent struct {
	user, item string
	purchase   bool
	erased     bool
	at         time.Time
}

// streamMessage is one server-sent event: its type and its one-line JSON
// data.
type streamMessage struct {
	event string
	data  []byte
}

// streamClient is a subscriber of the feed.
type streamClient struct {
	// user, when set, is the only user whose events the client gets.
	user string
	// ch is closed by the feed when the client is dropped.
	ch chan streamMessage
}

// liveFeed is the hub of the live feed. It is safe for concurrent use.
type liveFeed struct {
	cfg *Config
	// buffer is each client's channel capacity (streamBufferFor).
	buffer int
	// listening is len(clients), read without mu on the workers' path.
	listening atomic.Int32
	mu        sync.Mutex
	clients   map[*streamClient]struct{}
	users     recentUsers
}

func newLiveFeed(cfg *Config) *liveFeed {
	return &liveFeed{cfg: cfg, buffer: streamBufferFor(cfg.BatchSize), clients: map[*streamClient]struct{}{}, users: recentUsers{max: recentUsersMax}}
}

// subscribe adds a client of user's events ("" for every user); false
// when maxStreamClients are subscribed already.
func (f *liveFeed) subscribe(user string) (*streamClient, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.clients) >= maxStreamClients {
		return nil, false
	}
	c := &streamClient{user: user, ch: make(chan streamMessage, f.buffer)}
	f.clients[c] = struct{}{}
	f.countedLocked()
	return c, true
}

// countedLocked publishes the number of clients, to the workers' path
// and the gauge, after a change. The caller holds f.mu.
func (f *liveFeed) countedLocked() {
	f.listening.Store(int32(len(f.clients)))
	f.cfg.Metrics.streamClients(len(f.clients))
}

// unsubscribe removes a client, if the feed has not dropped it already.
func (f *liveFeed) unsubscribe(c *streamClient) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.clients[c]; ok {
		delete(f.clients, c)
		f.countedLocked()
	}
}

// batch tells the feed of a committed batch: the events it applied, then
// the recommendation records it published. It never blocks.
func (f *liveFeed) batch(pd *pending) {
	if len(pd.applied) > 0 {
		f.users.seen(pd.applied)
	}
	if f.listening.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range pd.applied {
		if a.erased {
			f.sendLocked(a.user, "erased", func() ([]byte, error) { return json.Marshal(StreamErased{UserID: a.user}) })
			continue
		}
		f.sendLocked(a.user, "applied", func() ([]byte, error) {
			kind := "click"
			if a.purchase {
				kind = "purchase"
			}
			return json.Marshal(StreamApplied{UserID: a.user, ItemID: a.item, Kind: kind, Time: a.at.UTC()})
		})
	}
	for i := range pd.recs {
		f.sendLocked(pd.recs[i].UserID, "recommendation", pd.recs[i].Encode)
	}
}

// sendLocked queues a message about user for every client that wants it,
// encoding it (encode) only if one does. A client whose buffer is full is
// dropped. The caller holds f.mu.
func (f *liveFeed) sendLocked(user, event string, encode func() ([]byte, error)) {
	var msg streamMessage
	for c := range f.clients {
		if c.user != "" && c.user != user {
			continue
		}
		if msg.data == nil {
			b, err := encode()
			if err != nil {
				f.cfg.Logger.Error("stream: encode", "event", event, "user", user, "err", err)
				return
			}
			msg = streamMessage{event: event, data: b}
		}
		select {
		case c.ch <- msg:
		default:
			delete(f.clients, c)
			close(c.ch)
			f.countedLocked()
			f.cfg.Metrics.streamDropped()
		}
	}
}

// serveStream serves GET /v1/stream and returns the status it answered
// with.
func (f *liveFeed) serveStream(w http.ResponseWriter, r *http.Request) int {
	q := &query{v: r.URL.Query()}
	q.checkKnown(streamParams)
	user := q.string("user")
	if q.err != nil {
		return writeJSON(w, q.err.status, q.err.body)
	}
	rc := http.NewResponseController(w)
	c, ok := f.subscribe(user)
	if !ok {
		return writeJSON(w, http.StatusServiceUnavailable, errorResponse{
			Error: fmt.Sprintf("too many streams: %d open, the most this instance serves", maxStreamClients)})
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(s string, args ...any) error {
		// A deadline per write, past the server's WriteTimeout (an
		// unsupported deadline leaves the server's).
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprintf(w, s, args...); err != nil {
			return err
		}
		return rc.Flush()
	}
	defer f.unsubscribe(c)
	if write(": stream of %s\n\n", describeStream(user)) != nil {
		return http.StatusOK
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return http.StatusOK
		case <-ping.C:
			if write(": ping\n\n") != nil {
				return http.StatusOK
			}
		case m, ok := <-c.ch:
			// The message and those queued behind it go out in one
			// flush: a flush per message would make a client that
			// reads as fast as it can fall behind a burst.
			for n := 0; ; n++ {
				if !ok {
					b, _ := json.Marshal(StreamDropped{Reason: fmt.Sprintf("too slow: more than %d messages waiting", f.buffer)})
					_ = write("event: dropped\ndata: %s\n\n", b) // best effort: the client is not reading
					return http.StatusOK
				}
				if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data); err != nil {
					return http.StatusOK
				}
				if n == streamBurst || len(c.ch) == 0 {
					break
				}
				m, ok = <-c.ch
			}
			if write("") != nil {
				return http.StatusOK
			}
		}
	}
}

func describeStream(user string) string {
	if user == "" {
		return "every user"
	}
	return fmt.Sprintf("user %q", user)
}

// ActiveUser is one user of GET /v1/users.
type ActiveUser struct {
	UserID string `json:"user_id"`
	// LastEvent is the time of the user's latest event applied.
	LastEvent time.Time `json:"last_event"`
	// Events counts the user's events this instance applied since it
	// started.
	Events uint64 `json:"events"`
}

// UsersResponse is the answer of GET /v1/users.
type UsersResponse struct {
	Users []ActiveUser `json:"users"`
}

// usersParams are the parameters of GET /v1/users.
var usersParams = []apiParam{paramLimit}

// paramLimit is how many users GET /v1/users lists.
var paramLimit = apiParam{"limit", "integer", 1, 500}

// recentUsers are the users whose events this instance applied most
// recently, at most max of them: the least recently active goes first.
type recentUsers struct {
	mu    sync.Mutex
	max   int
	byID  map[string]*list.Element // of *recentUser
	order list.List                // most recent first
}

type recentUser struct {
	id     string
	last   time.Time
	events uint64
}

// seen records applied events, and forgets the users erased.
func (u *recentUsers) seen(evs []appliedEvent) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byID == nil {
		u.byID = map[string]*list.Element{}
	}
	for _, e := range evs {
		if e.erased { // forgotten: not listed until its next event
			if el, ok := u.byID[e.user]; ok {
				u.order.Remove(el)
				delete(u.byID, e.user)
			}
			continue
		}
		if el, ok := u.byID[e.user]; ok {
			ru := el.Value.(*recentUser)
			ru.events++
			if e.at.After(ru.last) {
				ru.last = e.at
			}
			u.order.MoveToFront(el)
			continue
		}
		u.byID[e.user] = u.order.PushFront(&recentUser{id: e.user, last: e.at, events: 1})
		if u.order.Len() > u.max {
			oldest := u.order.Back()
			u.order.Remove(oldest)
			delete(u.byID, oldest.Value.(*recentUser).id)
		}
	}
}

// list returns up to n users, most recently active first.
func (u *recentUsers) list(n int) []ActiveUser {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]ActiveUser, 0, min(n, u.order.Len()))
	for el := u.order.Front(); el != nil && len(out) < n; el = el.Next() {
		ru := el.Value.(*recentUser)
		out = append(out, ActiveUser{UserID: ru.id, LastEvent: ru.last.UTC(), Events: ru.events})
	}
	return out
}

func (qa *queryAPI) apiUsers(r *http.Request) (any, error) {
	q := &query{v: r.URL.Query()}
	q.checkKnown(usersParams)
	n := q.int(paramLimit, 50)
	if q.err != nil {
		return nil, q.err
	}
	return UsersResponse{Users: qa.live.users.list(n)}, nil
}
