package processor

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// routeUnauthorized is the route label of the requests the token check
// answers 401. They are counted under one label, not their route's: the
// check runs before the request is routed (a client without the token
// learns nothing of which paths exist, and a 401 for a path that is no
// route is a 401 like any other), and the label says at a glance that
// clients are knocking without the token, whatever they ask for.
const routeUnauthorized = "unauthorized"

// requireToken serves next only to the requests that carry token as
// "Authorization: Bearer <token>" (the scheme in any case, RFC 7235); any
// other answers 401 with a JSON error and a WWW-Authenticate challenge,
// counted by observe. It runs before the limits: a request without the
// token takes no slot in flight and no worker.
func requireToken(token string, next http.Handler, observe func(route string, status int, took time.Duration)) http.Handler {
	// Digests of equal length are compared, in constant time: the time a
	// wrong token takes says nothing of the token, its length included.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		challenge, msg := `Bearer realm="sessionrec"`, "missing bearer token: send Authorization: Bearer <token>"
		if strings.EqualFold(scheme, "Bearer") {
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			challenge, msg = `Bearer realm="sessionrec", error="invalid_token"`, "invalid bearer token"
		}
		w.Header().Set("WWW-Authenticate", challenge)
		observe(routeUnauthorized, writeJSON(w, http.StatusUnauthorized, errorResponse{Error: msg}), time.Since(start))
	})
}
