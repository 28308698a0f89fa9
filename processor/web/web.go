// Package web is the processor's live page: the active shoppers, the
// chosen one's actions, intents and recommendations as they change, the
// ranking knobs and a map of the catalogue. It is plain HTML, CSS and
// JavaScript embedded in the binary, and reads the query API (/v1/...)
// of the address that serves it.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"time"
)

//go:embed index.html app.js style.css
var files embed.FS

// FS returns the page's files: index.html, app.js and style.css.
func FS() fs.FS { return files }

// asset is one embedded file with its content type and entity tag.
type asset struct {
	name, contentType, etag string
	body                    []byte
}

func load(name, contentType string) asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err) // embedded above: present in every build
	}
	sum := sha256.Sum256(b)
	return asset{name: name, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, body: b}
}

func (a asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

// Handler serves the page: index.html at exactly /, its script and style
// sheet at /static/app.js and /static/style.css. Anything else is 404;
// mount it on / and /static/ beside the other routes.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", load("index.html", "text/html; charset=utf-8"))
	mux.Handle("GET /static/app.js", load("app.js", "text/javascript; charset=utf-8"))
	mux.Handle("GET /static/style.css", load("style.css", "text/css; charset=utf-8"))
	return mux
}
