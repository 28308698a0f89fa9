package processor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sessionrec/sessionrec/model"
)

// APIConfig bounds what the query API takes on, so that a flood of
// requests cannot starve the partition workers, which rank on the same
// cores: how many requests are served at once, how long each may take, and
// how much ranking work one may ask for. Zero fields mean their defaults;
// DefaultAPIConfig has them all.
type APIConfig struct {
	// MaxInFlight is how many query API requests are served at once. A
	// request beyond them answers 429 at once, with Retry-After: 1.
	// Default 32.
	MaxInFlight int
	// Workers is how many of the requests in flight are worked on (ranked
	// and encoded) at once; the others wait for one of them to finish,
	// within their deadline. It bounds the cores a flood of queries can
	// take from the partition workers, which rank on the same cores.
	// Default half of GOMAXPROCS, at least 1.
	Workers int
	// WorkerShare is the share of its time a worker may work: after a
	// request that took d, the worker rests d×(1−share)/share before it
	// takes the next, so that a flood takes at most Workers×WorkerShare
	// cores. The answer is not held back. Default 0.5; 1: no rest.
	WorkerShare float64
	// Timeout is each request's deadline. A ranking stops at its next
	// step (an intent's search, a pick by diversity) once it has passed,
	// and a request whose answer is not ready by then answers 503.
	// Default 250ms.
	Timeout time.Duration
	// MaxWork caps the ranking work one request may ask for, in the units
	// of model.RankOptions.Work: with diversity > 0, k times the
	// candidates each intent proposes (max(3k, k+20)), the vector pairs
	// the diversity step scores per intent; without diversity, nothing.
	// A request above it answers 400 naming k. Default 7,500: with
	// diversity, k at most 50, which keeps a ranking of 8 intents over
	// 100,000 items to about 3 ms of CPU (k=1000 with diversity is
	// 3,000,000 and takes about 0.3 s).
	MaxWork int
	// Token, when set, is the bearer token every query API request must
	// carry, as "Authorization: Bearer <token>"; a request without it, or
	// with another, answers 401 before it is routed or takes a slot in
	// flight. It may not have surrounding whitespace or control
	// characters, which no client could send in a header. Default "": no
	// token asked for. OpsHandler's endpoints never ask for one.
	Token string
}

// The defaults of APIConfig.
const (
	DefaultAPIMaxInFlight = 32
	DefaultAPITimeout     = 250 * time.Millisecond
	DefaultAPIMaxWork     = 7_500
)

// DefaultAPIWorkerShare is the default APIConfig.WorkerShare.
const DefaultAPIWorkerShare = 0.5

// DefaultAPIWorkers is the default APIConfig.Workers: half of
// GOMAXPROCS, at least 1.
func DefaultAPIWorkers() int { return max(1, runtime.GOMAXPROCS(0)/2) }

// DefaultAPIConfig returns the defaults: 32 requests in flight, half the
// CPUs working on them, a 250ms deadline, a work cap of 7,500.
func DefaultAPIConfig() APIConfig {
	return APIConfig{MaxInFlight: DefaultAPIMaxInFlight, Workers: DefaultAPIWorkers(), WorkerShare: DefaultAPIWorkerShare,
		Timeout: DefaultAPITimeout, MaxWork: DefaultAPIMaxWork}
}

func (c *APIConfig) fill() error {
	switch {
	case c.MaxInFlight < 0:
		return fmt.Errorf("processor: api max in-flight %d: want > 0 (0: the default, %d)", c.MaxInFlight, DefaultAPIMaxInFlight)
	case c.Workers < 0:
		return fmt.Errorf("processor: api workers %d: want > 0 (0: the default, %d)", c.Workers, DefaultAPIWorkers())
	case c.WorkerShare < 0 || c.WorkerShare > 1 || math.IsNaN(c.WorkerShare):
		return fmt.Errorf("processor: api worker share %v: want in (0, 1] (0: the default, %v)", c.WorkerShare, DefaultAPIWorkerShare)
	case c.Timeout < 0:
		return fmt.Errorf("processor: api timeout %v: want > 0 (0: the default, %v)", c.Timeout, DefaultAPITimeout)
	case c.MaxWork < 0:
		return fmt.Errorf("processor: api max work %d: want > 0 (0: the default, %d)", c.MaxWork, DefaultAPIMaxWork)
	case strings.TrimSpace(c.Token) != c.Token || strings.ContainsFunc(c.Token, unicode.IsControl):
		return errors.New("processor: api token: surrounding whitespace or a control character (a second line?), which no client can send in a header")
	}
	d := DefaultAPIConfig()
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.WorkerShare == 0 {
		c.WorkerShare = d.WorkerShare
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxWork == 0 {
		c.MaxWork = d.MaxWork
	}
	return nil
}

// retryAfter is the Retry-After of a 429, in seconds: a request in flight
// takes milliseconds, so a slot is free well within it.
const retryAfter = 1

// apiLimits admits the query API's requests: a slot each, a deadline each,
// and the work cap.
type apiLimits struct {
	cfg   APIConfig
	slots chan struct{}
	// working holds a token per request being worked on (Workers).
	working chan struct{}
	// maxDiverseK is the largest k within the work cap with diversity.
	maxDiverseK int
	// holding, when set (tests), is called by every request once it
	// holds its slot, with its context (the deadline set), before it
	// works.
	holding func(ctx context.Context)
}

func newAPILimits(cfg APIConfig, holding func(context.Context)) (*apiLimits, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	l := &apiLimits{cfg: cfg, slots: make(chan struct{}, cfg.MaxInFlight), working: make(chan struct{}, cfg.Workers), holding: holding}
	for k := 1; k <= model.MaxK && (model.RankOptions{K: k, Diversity: 1}).Work() <= cfg.MaxWork; k++ {
		l.maxDiverseK = k
	}
	return l, nil
}

// admit runs serve in a slot, with the request's deadline, once one of the
// Workers is free, and returns its answer or error; without a free slot it
// returns a 429 at once. A serve
// that returns after the deadline has passed answers 503, its answer
// dropped.
func (l *apiLimits) admit(r *http.Request, serve func(ctx context.Context, r *http.Request) (any, error)) (any, error) {
	select {
	case l.slots <- struct{}{}:
	default:
		return nil, &apiError{status: http.StatusTooManyRequests, retryAfter: retryAfter, body: errorResponse{
			Error: fmt.Sprintf("too many requests: %d in flight, the most this instance serves at once; retry after %ds", l.cfg.MaxInFlight, retryAfter)}}
	}
	defer func() { <-l.slots }()
	ctx, cancel := context.WithTimeout(r.Context(), l.cfg.Timeout)
	defer cancel()
	if l.holding != nil {
		l.holding(ctx)
	}
	var body any
	var err error
	select {
	case l.working <- struct{}{}:
		func() {
			start := time.Now()
			defer func() {
				// The worker rests before its next request, if its
				// share says so; the answer goes now.
				rest := time.Duration(float64(time.Since(start)) * (1 - l.cfg.WorkerShare) / l.cfg.WorkerShare)
				if rest <= 0 {
					<-l.working
					return
				}
				time.AfterFunc(rest, func() { <-l.working })
			}()
			body, err = serve(ctx, r)
		}()
		if err == nil {
			err = ctx.Err()
		}
	case <-ctx.Done(): // no worker free in time
		err = ctx.Err()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, unavailable(fmt.Sprintf("deadline: the answer was not ready within %v", l.cfg.Timeout))
	case errors.Is(err, context.Canceled):
		return nil, unavailable("the request was cancelled")
	}
	return body, err
}

// checkWork fails a ranking whose knobs ask for more work than the cap.
func (l *apiLimits) checkWork(k Knobs) *apiError {
	if k.rankOptions(time.Time{}, nil).Work() <= l.cfg.MaxWork { // the options the ranking runs with
		return nil
	}
	return badParam(paramK.name, fmt.Sprintf("at most %d with diversity > 0 (the work cap %d: k × max(3k, k+20) candidates per intent)",
		l.maxDiverseK, l.cfg.MaxWork), strconv.Itoa(k.K))
}
