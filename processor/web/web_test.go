package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestHandlerServesPageAndAssets(t *testing.T) {
	h := Handler()
	res, page := get(t, h, "/")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /: status %d", res.StatusCode)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET /: Content-Type %q, want text/html", ct)
	}
	for _, id := range []string{`id="status"`, `id="users"`, `id="map"`, `aria-live=`} {
		if !strings.Contains(page, id) {
			t.Errorf("index.html lacks %s", id)
		}
	}

	want := map[string]string{".js": "text/javascript", ".css": "text/css"}
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]*)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets, want the script and the style sheet", len(refs))
	}
	for _, m := range refs {
		path := m[1]
		res, body := get(t, h, path)
		if res.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s: status %d, %d bytes", path, res.StatusCode, len(body))
			continue
		}
		for ext, ct := range want {
			if strings.HasSuffix(path, ext) && !strings.HasPrefix(res.Header.Get("Content-Type"), ct) {
				t.Errorf("GET %s: Content-Type %q, want %s", path, res.Header.Get("Content-Type"), ct)
			}
		}
	}

	for _, path := range []string{"/index.html", "/static/", "/static/web.go", "/other"} {
		if res, _ := get(t, h, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, res.StatusCode)
		}
	}
}
