package processor

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sessionrec/sessionrec/processor/web"
)

// openAPI describes the query API (see api.go); a test keeps it true.
//
//go:embed openapi.json
var openAPI []byte

// OpsHandler serves the processor's operational endpoints:
//
//	GET /metrics  Prometheus metrics of gatherer
//	GET /healthz  200 while the processor can go on (Healthy), 503 once
//	              its store has failed or the brokers have not answered
//	              for BrokerTimeout
//	GET /readyz   200 once the processor is in a group generation with its
//	              partitions loaded, reaches the brokers and has a working
//	              store (Ready); 503 before and during a rebalance, an
//	              outage or after a store failure
//
// Served on an address of their own, apart from APIHandler's, a flood of
// queries cannot starve the probes and the scrapes.
func (p *Processor) OpsHandler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Healthy() {
			http.Error(w, "unhealthy: the store failed or the brokers are unreachable past the broker timeout", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Ready() {
			http.Error(w, "not ready: joining the group, loading partitions, brokers unreachable or the store failed", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// APIHandler serves the query API (api.go), every path under /v1/,
// described by GET /v1/openapi.json, within cfg's limits, to the requests
// that carry cfg.Token when it is set. It fails on an invalid cfg.
func (p *Processor) APIHandler(cfg APIConfig) (http.Handler, error) {
	return p.apiHandler(cfg, nil)
}

// apiHandler is APIHandler with a hook for tests (apiLimits.holding).
func (p *Processor) apiHandler(cfg APIConfig, holding func(context.Context)) (http.Handler, error) {
	lim, err := newAPILimits(cfg, holding)
	if err != nil {
		return nil, err
	}
	q := &queryAPI{cfg: &p.cfg, db: p.db, engine: p.Engine, partitions: p.partitionIDs.Load, owned: p.ownedCheckpoint, ownerOf: p.ownerOf,
		live: p.out.live(), attr: p.attr}
	observe := func(route string, status int, took time.Duration) { p.cfg.Metrics.request(route, status, took) }
	mux := http.NewServeMux()
	q.routeAPI(mux, lim, observe)
	if cfg.Token != "" {
		return requireToken(cfg.Token, mux, observe), nil
	}
	return mux, nil
}

// Handler serves OpsHandler's endpoints and the query API with the
// default limits (DefaultAPIConfig) on one address: Combine(OpsHandler,
// APIHandler).
func (p *Processor) Handler(gatherer prometheus.Gatherer) http.Handler {
	api, err := p.APIHandler(DefaultAPIConfig())
	if err != nil {
		panic(err) // the defaults are valid
	}
	return Combine(p.OpsHandler(gatherer), api)
}

// Combine serves api (APIHandler) on the paths under /v1/, the live page
// (package web) at / and /static/, and ops (OpsHandler) on every other
// path: all on one address.
func Combine(ops, api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api)
	page := web.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /static/", page)
	mux.Handle("/", ops)
	return mux
}
