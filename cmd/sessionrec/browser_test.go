package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// TestBrowserPage drives the live page of a running demo in Debian's
// headless Chromium (make test installs it; without it the test fails):
// the page loads and shows the user's intents and recommendations; the
// user's next event shows within 3 s; moving diversity re-ranks; a
// category filter leaves only that category; and a screenshot is written
// (to $SESSIONREC_SCREENSHOT when set, as `make screenshot` does for the
// README).
func TestBrowserPage(t *testing.T) {
	chrome, err := exec.LookPath("chromium")
	require.NoError(t, err, "Debian's chromium is needed (make test installs it: apt-get install chromium)")
	d := startDemo(t, "--duration", "300s")

	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]), chromedp.ExecPath(chrome), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1440, 1100))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	count := func(sel string) int {
		var n int
		if evalJS(bctx, fmt.Sprintf("document.querySelectorAll(%q).length", sel), &n) != nil {
			return -1
		}
		return n
	}
	recs := func() []string {
		var ids []string
		if evalJS(bctx, `[...document.querySelectorAll('#recs [data-item]')].map(e => e.dataset.item)`, &ids) != nil {
			return nil
		}
		return ids
	}
	getJSON := func(path string, v any) error {
		resp, err := http.Get(d.base + path)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}

	// The page loads, and within 15 s shows intents and five recommended
	// items for the user the demo names.
	_, err = chromedp.Run(bctx, chromedp.Navigate(d.base+"/?user="+url.QueryEscape(d.user)))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return count("#intents [data-intent]") >= 1 && count("#recs [data-item]") >= 5 },
		15*time.Second, 100*time.Millisecond, "intents and five recommended items on the page")

	// The user's next event: its row, and the current intent holding its
	// item, show within 3 s of the event leaving the processor.
	applied := nextApplied(t, d.base, d.user)
	seen := time.Now()
	require.Eventually(t, func() bool {
		var ok bool
		js := fmt.Sprintf(`[...document.querySelectorAll('#history li.ev')].some(li => li.dataset.itemId === %q &&
			Date.parse(li.querySelector('time').dateTime) === Date.parse(%q)) &&
			document.querySelector('#intents [data-intent] [data-detail-for=%q]') !== null &&
			document.querySelectorAll('#recs [data-item]').length > 0`, applied.ItemID, applied.TS, applied.ItemID)
		return evalJS(bctx, js, &ok) == nil && ok
	}, 3*time.Second, 50*time.Millisecond, "the event %+v on the page", applied)
	t.Logf("event %s@%s on the page after %s", applied.ItemID, applied.TS, time.Since(seen).Round(time.Millisecond))

	// The page's list is what the query API answers for the knobs in the
	// page's URL (as sets: the page groups items by intent).
	apiFor := func() ([]string, error) {
		var search string
		if err := evalJS(bctx, `location.search`, &search); err != nil {
			return nil, err
		}
		q, err := url.ParseQuery(strings.TrimPrefix(search, "?"))
		if err != nil {
			return nil, err
		}
		q.Del("user")
		var r recList
		if err := getJSON("/v1/users/"+url.PathEscape(d.user)+"/recommendations?"+q.Encode(), &r); err != nil {
			return nil, err
		}
		return r.ids(), nil
	}
	sameSet := func(a, b []string) bool {
		a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
		return slices.Equal(a, b)
	}
	setKnob := func(id, value string) {
		js := fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q;
			e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return true })()`, id, value)
		var ok bool
		require.NoError(t, evalJS(bctx, js, &ok))
	}

	// Diversity: the list re-ranks to the API's answer with diversity 1,
	// which differs from the one without.
	before := recs()
	setKnob("knob-diversity", "1")
	require.Eventually(t, func() bool {
		var search string
		if evalJS(bctx, `location.search`, &search) != nil || !strings.Contains(search, "diversity=1") {
			return false
		}
		want, err := apiFor()
		return err == nil && len(want) > 0 && sameSet(recs(), want)
	}, 5*time.Second, 100*time.Millisecond, "the list re-ranked with diversity 1")
	after := recs()
	var plain recList
	require.NoError(t, getJSON("/v1/users/"+url.PathEscape(d.user)+"/recommendations?diversity=0", &plain))
	require.False(t, sameSet(after, before) && sameSet(after, plain.ids()), "diversity 1 changed nothing: %v", after)

	// A category filter leaves items of that category (or below) only.
	var first struct {
		Category string `json:"category"`
	}
	require.NoError(t, getJSON("/v1/items/"+url.PathEscape(after[0]), &first))
	require.NotEmpty(t, first.Category)
	setKnob("knob-category", first.Category)
	require.Eventually(t, func() bool {
		ids := recs()
		if len(ids) == 0 {
			return false
		}
		for _, id := range ids {
			var it struct {
				Category string `json:"category"`
			}
			if getJSON("/v1/items/"+url.PathEscape(id), &it) != nil ||
				(it.Category != first.Category && !strings.HasPrefix(it.Category, first.Category+".")) {
				return false
			}
		}
		return true
	}, 5*time.Second, 100*time.Millisecond, "only category %s on the page", first.Category)

	// Back to no filter, and a screenshot of the whole page.
	setKnob("knob-category", "")
	setKnob("knob-diversity", "0.3")
	time.Sleep(time.Second)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG; below it, JPEG
	require.NoError(t, err)
	path := os.Getenv("SESSIONREC_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "page.png")
	}
	require.NoError(t, os.WriteFile(path, png, 0o644))
	require.Greater(t, len(png), 10_000, "a screenshot with something on it")
	t.Logf("screenshot: %s (%d bytes)", path, len(png))

	// What the server applied between the page's first reads and its
	// stream opening reaches the page through no event: once the stream
	// is open, the page reads the user again. A user with no events
	// makes this deterministic: nothing else would read it again (the
	// page polls only while the stream is down).
	tctx, cancel := chromedp.NewContext(bctx) // a second tab
	defer cancel()
	const spy = `window.__reads = []; window.__opened = -1;
		const realFetch = window.fetch;
		window.fetch = (u, o) => { window.__reads.push([String(u), performance.now()]); return realFetch(u, o); };
		const RealES = window.EventSource;
		window.EventSource = class extends RealES {
			constructor(u, c) { super(u, c); this.addEventListener('open', () => { window.__opened = performance.now(); }); }
		};`
	_, err = chromedp.Run(tctx, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: spy})
		return chromedp.Void{}, err
	}))
	require.NoError(t, err)
	const nobody = "nobody-browser-test"
	_, err = chromedp.Run(tctx, chromedp.Navigate(d.base+"/?user="+nobody))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var after bool
		js := fmt.Sprintf(`window.__opened >= 0 && window.__reads.some(([u, at]) => u.includes('/v1/users/%s/session') && at >= window.__opened)`, nobody)
		return evalJS(tctx, js, &after) == nil && after
	}, 10*time.Second, 100*time.Millisecond, "the user read again once the stream opened")
}

// evalJS evaluates js in the page of ctx into out, giving it 5 s.
func evalJS[T any](ctx context.Context, js string, out *T) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err == nil {
		*out = v
	}
	return err
}

// recList is the part of a recommendations answer the browser test reads.
type recList struct {
	Items []struct {
		ItemID string `json:"item_id"`
	} `json:"items"`
}

func (r recList) ids() []string {
	var ids []string
	for _, it := range r.Items {
		ids = append(ids, it.ItemID)
	}
	return ids
}

// appliedEvent is an `applied` message of /v1/stream.
type appliedEvent struct {
	UserID string `json:"user_id"`
	ItemID string `json:"item_id"`
	Kind   string `json:"kind"`
	TS     string `json:"ts"`
}

// nextApplied follows base's stream for user and returns the next event
// applied for them (within 60 s).
func nextApplied(t *testing.T, base, user string) appliedEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/stream?user="+url.QueryEscape(user), nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
			continue
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && event == "applied" {
			var a appliedEvent
			require.NoError(t, json.Unmarshal([]byte(data), &a))
			return a
		}
	}
	t.Fatalf("no event applied for %s within 60 s: %v", user, sc.Err())
	return appliedEvent{}
}
