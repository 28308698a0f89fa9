package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The HTTP servers' timeouts. A client has 5 s to send a request's
// headers; an answer must be written within 30 s of them (the query API's
// own deadline, processor.APIConfig.Timeout, is far shorter: a /metrics
// scrape is the slowest answer); an idle keep-alive connection is closed
// after 2 min, so that idle clients cannot hold connections open for ever.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpWriteTimeout      = 30 * time.Second
	httpIdleTimeout       = 2 * time.Minute
)

// newHTTPServer returns a server of h with the timeouts above.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: httpReadHeaderTimeout, WriteTimeout: httpWriteTimeout, IdleTimeout: httpIdleTimeout}
}

// serveHTTP serves h on addr in the background and returns the address it
// listens on (the port filled in when addr asks for any) and a function
// that shuts the server down, waiting up to five seconds for requests in
// flight.
func serveHTTP(addr string, h http.Handler, log *slog.Logger) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := newHTTPServer(h)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return ln.Addr().String(), func() {
		shutdownHTTP(srv)
		<-done
	}, nil
}

// httpGrace is how long a stopping server waits for the requests in
// flight (a query answers within its deadline, 250 ms by default) before
// it cuts every connection.
const httpGrace = 2 * time.Second

// shutdownHTTP stops srv: no new connections, idle ones closed, requests
// in flight given httpGrace, then every connection cut. A connection that
// never sends a request would otherwise hold Shutdown for 5 s, and a
// stopping instance must exit promptly (SIGTERM, within seconds).
func shutdownHTTP(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), httpGrace)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		_ = srv.Close() // the grace is over: what is left is cut, and its error says nothing more
	}
}
