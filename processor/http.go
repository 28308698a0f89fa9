package processor

import (
	_ "embed"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// openAPI describes the query API (see api.go); a test keeps it true.
//
//go:embed openapi.json
var openAPI []byte

// Handler serves the processor's operational endpoints and the query API
// (api.go):
//
//	GET /metrics  Prometheus metrics of gatherer
//	GET /healthz  200 while the process runs
//	GET /readyz   200 once the processor is in a group generation with its
//	              partitions loaded, 503 before and during a rebalance
//	GET /v1/...   the query API, described by GET /v1/openapi.json
func (p *Processor) Handler(gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	p.routeAPI(mux, func(route string, status int, took time.Duration) {
		p.cfg.Metrics.request(route, status, took)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Ready() {
			http.Error(w, "not ready: joining the group or loading partitions", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
