package httpsplit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

func versions(t *testing.T) (http.Handler, http.Handler) {
	return backend(t, httpsplit.BackendConfig{Version: "v1"}), backend(t, httpsplit.BackendConfig{Version: "v2"})
}

// The weights are applied per request, exactly: c of any 100 consecutive
// requests reach the canary, and for a c dividing 100 exactly one in every
// 100/c.
func TestSplitAccuracy(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	for _, c := range []int{0, 1, 3, 10, 20, 25, 33, 50, 90, 99, 100} {
		if err := r.p.SetSplit(ctx(t), traffic.Weighted(c)); err != nil {
			t.Fatal(err)
		}
		var seq []bool
		for i := 0; i < 250; i++ {
			switch _, b := r.serve(t, http.MethodGet, "/", nil); b {
			case "v1", "v2":
				seq = append(seq, b == "v2")
			default:
				t.Fatalf("unexpected body %q", b)
			}
		}
		for start := 0; start+100 <= len(seq); start++ {
			if n := count(seq[start : start+100]); n != c {
				t.Fatalf("canary %d%%: requests %d..%d sent %d to the canary, want %d", c, start, start+99, n, c)
			}
		}
		if c > 0 && 100%c == 0 {
			period := 100 / c
			for start := 0; start+period <= len(seq); start++ {
				if n := count(seq[start : start+period]); n != 1 {
					t.Fatalf("canary %d%%: requests %d..%d sent %d to the canary, want exactly 1 (smooth)", c, start, start+period-1, n)
				}
			}
		}
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// Rewriting the split in force keeps its place in the sequence; a new split
// starts afresh.
func TestSameSplitKeepsSequence(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	if err := r.p.SetSplit(ctx(t), traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := 0; i < 4; i++ {
		got = append(got, r.get(t))
		if err := r.p.SetSplit(ctx(t), traffic.Weighted(50)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "v1 v2 v1 v2"; strings.Join(got, " ") != want {
		t.Errorf("with the same split rewritten between requests got %v, want %s", got, want)
	}
}

// The proxy keeps its own copy of the split: neither the caller's
// HeaderRoute nor the one Split returns can change the route in force.
func TestSplitIsCopied(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	route := traffic.HeaderRoute{Name: "x-canary", Value: "yes"}
	want := traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "x-canary", Value: "yes"}}
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, TestRoute: route}); err != nil {
		t.Fatal(err)
	}
	route.Value = "changed"
	got, err := r.p.Split(ctx(t))
	if err != nil || !got.Equal(want) {
		t.Fatalf("Split = %v, %v; want %v", got, err, want)
	}
	got.TestRoute.Value = "changed again"
	if _, b := r.serve(t, http.MethodGet, "/", http.Header{"X-Canary": {"yes"}}); b != "v2" {
		t.Errorf("the route in force changed with the caller's copy: served by %s", b)
	}
}

func TestTestRoute(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	route := traffic.HeaderRoute{Name: "X-Canary", Value: "always"}
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, TestRoute: route}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		header http.Header
		want   string
	}{
		{nil, "v1"},
		{http.Header{"X-Canary": {"always"}}, "v2"},
		{http.Header{"X-Canary": {"sometimes"}}, "v1"},
		{http.Header{"X-Canary": {"no", "always"}}, "v2"},
		{http.Header{"X-Canary": {"Always"}}, "v1"},
	}
	for i := 0; i < 3; i++ { // at 0 % the canary gets only the test route
		for _, c := range cases {
			if _, got := r.do(t, http.MethodGet, "/", nil, c.header); got != c.want {
				t.Errorf("header %v: served by %s, want %s", c.header, got, c.want)
			}
		}
	}

	// Test-route requests do not take a place in the weighted sequence: at
	// 50 % the plain requests alternate stable, canary, whatever is between.
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 50, Canary: 50, TestRoute: route}); err != nil {
		t.Fatal(err)
	}
	var plain []string
	for i := 0; i < 6; i++ {
		_, b := r.do(t, http.MethodGet, "/", nil, nil)
		plain = append(plain, b)
		if _, b := r.do(t, http.MethodGet, "/", nil, http.Header{"X-Canary": {"always"}}); b != "v2" {
			t.Fatalf("test-route request served by %s", b)
		}
	}
	if want := "v1 v2 v1 v2 v1 v2"; strings.Join(plain, " ") != want {
		t.Errorf("plain requests went to %v, want %s", plain, want)
	}

	// Release drops the route.
	if err := r.p.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for i := 0; i < 10; i++ {
		_, b := r.do(t, http.MethodGet, "/", nil, http.Header{"X-Canary": {"always"}})
		got[b]++
	}
	if got["v1"] != 5 || got["v2"] != 5 {
		t.Errorf("after Release, header requests were split %v, want 5/5 by weight", got)
	}
}

// recorder is a canary back end that keeps what it received.
type recorder struct {
	mu      sync.Mutex
	bodies  []string
	mirrors int
	release chan struct{} // when not nil, requests wait for it to close
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.release != nil {
		<-rc.release
	}
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.bodies = append(rc.bodies, string(b))
	if r.Header.Get(httpsplit.MirrorHeader) == "1" {
		rc.mirrors++
	}
	rc.mu.Unlock()
	io.WriteString(w, "v2\n")
}

func (rc *recorder) got() ([]string, int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...), rc.mirrors
}

func TestMirror(t *testing.T) {
	rec := &recorder{}
	stable := backend(t, httpsplit.BackendConfig{Version: "v1"})
	r := newRig(t, httpsplit.Config{MirrorConcurrency: 200}, stable, rec)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 25}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if b := r.get(t); b != "v1" {
			t.Fatalf("request %d served by %s; a mirror must not change the primary route", i, b)
		}
	}
	shutdown(t, r.p) // waits for the copies in flight
	bodies, mirrors := rec.got()
	if len(bodies) != 25 || mirrors != 25 {
		t.Errorf("canary received %d requests (%d marked as mirrors), want 25 of 100", len(bodies), mirrors)
	}
	if s := r.p.Stats(); s != (httpsplit.Stats{Mirrored: 25}) {
		t.Errorf("Stats = %+v, want 25 mirrored", s)
	}
	if stable.Served() != 100 {
		t.Errorf("stable served %d, want 100", stable.Served())
	}
	res, err := r.p.Query(ctx(t), metrics.Query{Text: "requests mirror", Window: time.Minute, End: nextSecond()})
	if err != nil || res.Value != 25 {
		t.Errorf("requests mirror = %+v, %v; want 25", res, err)
	}
	if _, err := r.p.Query(ctx(t), metrics.Query{Text: "requests canary", Window: time.Minute, End: nextSecond()}); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("requests canary = %v, want ErrNoData: copies are not canary traffic", err)
	}
}

func TestMirrorBodies(t *testing.T) {
	rec := &recorder{}
	stableBodies := make(chan string, 10)
	stable := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		stableBodies <- string(b)
		io.WriteString(w, "v1\n")
	})
	r := newRig(t, httpsplit.Config{MirrorMaxBody: 16}, stable, rec)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 100}); err != nil {
		t.Fatal(err)
	}
	sends := []struct {
		body     io.Reader
		want     string
		mirrored bool
	}{
		{strings.NewReader("hello"), "hello", true},
		{strings.NewReader("exactly-16-bytes"), "exactly-16-bytes", true},
		{strings.NewReader("seventeen bytes!!"), "seventeen bytes!!", false},                       // known length over the limit
		{io.MultiReader(strings.NewReader("chunked")), "chunked", true},                            // unknown length, fits
		{io.MultiReader(strings.NewReader("chunked and too long")), "chunked and too long", false}, // unknown length, over
		{nil, "", true},
	}
	var want []string
	for _, s := range sends {
		code, _ := r.do(t, http.MethodPost, "/submit", s.body, nil)
		if code != http.StatusOK {
			t.Fatalf("POST %q: status %d", s.want, code)
		}
		if got := <-stableBodies; got != s.want {
			t.Errorf("stable received %q, want %q: the primary body must be intact", got, s.want)
		}
		if s.mirrored {
			want = append(want, s.want)
		}
	}
	shutdown(t, r.p)
	got, _ := rec.got()
	sort.Strings(got) // copies run in the background, in any order
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("canary received bodies %q, want %q", got, want)
	}
	if s := r.p.Stats(); s.Mirrored != 4 || s.MirrorDropped != 2 {
		t.Errorf("Stats = %+v, want 4 mirrored and 2 dropped", s)
	}
}

// A canary that does not answer must not hold up the primary responses:
// copies beyond MirrorConcurrency are dropped, not queued.
func TestMirrorNeverBlocksPrimary(t *testing.T) {
	rec := &recorder{release: make(chan struct{})}
	r := newRig(t, httpsplit.Config{MirrorConcurrency: 2}, backend(t, httpsplit.BackendConfig{Version: "v1"}), rec)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 100}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if b := r.get(t); b != "v1" { // the client's timeout would fail this if it blocked
			t.Fatalf("got %s", b)
		}
	}
	if s := r.p.Stats(); s.MirrorDropped != 8 {
		t.Errorf("with 2 copies stuck in flight, Stats = %+v, want 8 dropped", s)
	}
	close(rec.release)
	shutdown(t, r.p)
	if s := r.p.Stats(); s.Mirrored != 2 || s.MirrorDropped != 8 {
		t.Errorf("after Close, Stats = %+v, want 2 mirrored, 8 dropped", s)
	}
}

// Close cancels copies still in flight and waits for them; so does
// Shutdown when its context ends first.
func TestCloseCancelsMirrors(t *testing.T) {
	stuck := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	r := newRig(t, httpsplit.Config{}, backend(t, httpsplit.BackendConfig{Version: "v1"}), stuck)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 100}); err != nil {
		t.Fatal(err)
	}
	r.get(t)
	r.p.Close()
	if s := r.p.Stats(); s.Mirrored != 1 || s.MirrorFailed != 1 {
		t.Errorf("Stats = %+v, want the one copy sent and failed (cancelled)", s)
	}

	r = newRig(t, httpsplit.Config{}, backend(t, httpsplit.BackendConfig{Version: "v1"}), stuck)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 100}); err != nil {
		t.Fatal(err)
	}
	r.get(t)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := r.p.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a stuck copy = %v, want context.DeadlineExceeded", err)
	}
	if s := r.p.Stats(); s.Mirrored != 1 || s.MirrorFailed != 1 {
		t.Errorf("Stats = %+v, want the one copy sent and failed (cancelled)", s)
	}
}

func shutdown(t *testing.T, p *httpsplit.Proxy) {
	t.Helper()
	if err := p.Shutdown(ctx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestConcurrentRequestsAndSplitChanges(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{MirrorConcurrency: 4}, v1, v2)
	c := ctx(t)
	if err := r.p.SetSplit(c, traffic.Weighted(30)); err != nil {
		t.Fatal(err)
	}
	// A constant split under 8 concurrent clients: the count is exact.
	var canaryN atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				code, b := r.do(t, http.MethodGet, "/", nil, nil)
				if code != http.StatusOK {
					t.Errorf("status %d", code)
					return
				}
				if b == "v2" {
					canaryN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got := canaryN.Load(); got != 240 {
		t.Errorf("800 concurrent requests at 30%%: %d to the canary, want exactly 240", got)
	}

	// Splits changing under concurrent requests and reads.
	done := make(chan struct{})
	var writers sync.WaitGroup
	writers.Add(1)
	go func() {
		defer writers.Done()
		route := traffic.HeaderRoute{Name: "x-canary", Value: "1"}
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			s := traffic.Split{Stable: 100 - i%101, Canary: i % 101, Mirror: i % 7, TestRoute: route}
			if err := r.p.SetSplit(c, s); err != nil {
				t.Error(err)
				return
			}
			if i%5 == 0 {
				if err := r.p.Release(c); err != nil {
					t.Error(err)
					return
				}
			}
			got, err := r.p.Split(c)
			if err != nil || got.Validate() != nil {
				t.Errorf("Split read %v, %v", got, err)
				return
			}
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				h := http.Header{}
				if i%3 == 0 {
					h.Set("x-canary", "1")
				}
				code, b := r.do(t, http.MethodPost, "/", bytes.NewReader([]byte(fmt.Sprint(g, i))), h)
				if code != http.StatusOK || (b != "v1" && b != "v2") {
					t.Errorf("status %d body %q", code, b)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(done)
	writers.Wait()
}

func TestUnreachableBackendIs5xx(t *testing.T) {
	clk := newClock(t0)
	p, err := httpsplit.New(httpsplit.Config{Stable: server(t, backend(t, httpsplit.BackendConfig{Version: "v1"})), Canary: refusedURL(t), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetSplit(ctx(t), traffic.Weighted(50)); err != nil {
		t.Fatal(err)
	}
	codes := map[int]int{}
	for i := 0; i < 10; i++ {
		clk.Advance(100 * time.Millisecond)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		codes[w.Code]++
	}
	if codes[200] != 5 || codes[502] != 5 {
		t.Errorf("status codes %v, want 5×200 (stable) and 5×502 (unreachable canary)", codes)
	}
	for _, q := range []struct {
		text string
		want float64
	}{{"error_rate canary", 1}, {"error_rate stable", 0}, {"success_rate canary", 0}} {
		res, err := p.Query(ctx(t), metrics.Query{Text: q.text, Window: 10 * time.Second, End: t0.Add(10 * time.Second)})
		if err != nil || res.Value != q.want || res.Count != 5 {
			t.Errorf("%s = %+v, %v; want %v over 5 requests", q.text, res, err, q.want)
		}
	}
}

func TestClosed(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	r.get(t)
	r.p.Close()
	r.p.Close() // twice is harmless
	if code, _ := r.do(t, http.MethodGet, "/", nil, nil); code != http.StatusServiceUnavailable {
		t.Errorf("closed proxy answered %d, want 503", code)
	}
	c := ctx(t)
	// Closing the proxy is not a missing route: it must not read as
	// traffic.ErrNotFound, which would make a rollout roll back.
	for _, s := range []traffic.Split{traffic.Weighted(5), traffic.AllStable()} {
		err := r.p.SetSplit(c, s)
		if !errors.Is(err, httpsplit.ErrClosed) || errors.Is(err, traffic.ErrNotFound) || canary.Code(err) != canary.FailedPrecondition {
			t.Errorf("SetSplit(%v) after Close = %v (code %v), want ErrClosed, FailedPrecondition, not ErrNotFound", s, err, canary.Code(err))
		}
	}
	if _, err := r.p.Split(c); !errors.Is(err, httpsplit.ErrClosed) || errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("Split after Close = %v", err)
	}
	if err := r.p.Release(c); !errors.Is(err, httpsplit.ErrClosed) || errors.Is(err, traffic.ErrNotFound) {
		t.Errorf("Release after Close = %v", err)
	}
	if res, err := r.p.Query(c, metrics.Query{Text: "requests stable", Window: time.Minute, End: nextSecond()}); err != nil || res.Value != 1 {
		t.Errorf("Query after Close = %+v, %v; want the 1 request measured before", res, err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := server(t, http.NotFoundHandler())
	parse := func(s string) *url.URL { return mustURL(t, s) }
	cases := []struct {
		name  string
		c     httpsplit.Config
		field string
	}{
		{"no stable", httpsplit.Config{Canary: good}, "Config.Stable"},
		{"no canary", httpsplit.Config{Stable: good}, "Config.Canary"},
		{"relative", httpsplit.Config{Stable: parse("/v1"), Canary: good}, "Config.Stable"},
		{"scheme", httpsplit.Config{Stable: good, Canary: parse("ftp://h/")}, "Config.Canary"},
		{"no host", httpsplit.Config{Stable: good, Canary: parse("http:///x")}, "Config.Canary"},
		{"user info", httpsplit.Config{Stable: parse("http://u:secret@h/"), Canary: good}, "Config.Stable"},
		{"retention", httpsplit.Config{Stable: good, Canary: good, Retention: -time.Second}, "Config.Retention"},
		{"retention max", httpsplit.Config{Stable: good, Canary: good, Retention: 2 * time.Hour}, "Config.Retention"},
		{"samples", httpsplit.Config{Stable: good, Canary: good, LatencySamples: -1}, "Config.LatencySamples"},
		{"samples max", httpsplit.Config{Stable: good, Canary: good, LatencySamples: 1<<20 + 1}, "Config.LatencySamples"},
		{"concurrency", httpsplit.Config{Stable: good, Canary: good, MirrorConcurrency: -1}, "Config.MirrorConcurrency"},
		{"body", httpsplit.Config{Stable: good, Canary: good, MirrorMaxBody: -1}, "Config.MirrorMaxBody"},
		{"timeout", httpsplit.Config{Stable: good, Canary: good, MirrorTimeout: -time.Second}, "Config.MirrorTimeout"},
	}
	for _, c := range cases {
		p, err := httpsplit.New(c.c)
		var fe *canary.FieldError
		if !errors.As(err, &fe) || fe.Field != c.field || !errors.Is(err, canary.ErrInvalid) {
			t.Errorf("%s: New = %v, %v; want a *canary.FieldError for %s", c.name, p, err, c.field)
		}
		if c.name == "user info" && err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	p, err := httpsplit.New(httpsplit.Config{Stable: good, Canary: good})
	if err != nil {
		t.Fatalf("New with only the URLs: %v", err)
	}
	defer p.Close()
	if s, err := p.Split(ctx(t)); err != nil || !s.Equal(traffic.AllStable()) {
		t.Errorf("fresh proxy split %v, %v; want all stable", s, err)
	}
}

func TestBackend(t *testing.T) {
	b := backend(t, httpsplit.BackendConfig{Version: "v2", ErrorRate: 0.05})
	u := server(t, b)
	var failedAt []int
	for i := 0; i < 100; i++ {
		resp, err := http.Get(u.String())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "v2\n" || resp.Header.Get("X-Version") != "v2" {
			t.Fatalf("body %q, X-Version %q", body, resp.Header.Get("X-Version"))
		}
		if resp.StatusCode == http.StatusInternalServerError {
			failedAt = append(failedAt, i)
		}
	}
	if fmt.Sprint(failedAt) != "[19 39 59 79 99]" {
		t.Errorf("failed requests %v, want every 20th", failedAt)
	}
	if b.Served() != 100 || b.Failed() != 5 {
		t.Errorf("Served %d Failed %d", b.Served(), b.Failed())
	}
	if err := b.SetErrorRate(1); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(u.String()); err != nil || resp.StatusCode != 500 {
		t.Errorf("at ErrorRate 1: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, bad := range []httpsplit.BackendConfig{{ErrorRate: -0.1}, {ErrorRate: 1.5}, {Latency: -time.Second}} {
		var fe *canary.FieldError
		if _, err := httpsplit.NewBackend(bad); !errors.As(err, &fe) {
			t.Errorf("NewBackend(%+v) = %v, want a *canary.FieldError", bad, err)
		}
	}
	if err := b.SetErrorRate(2); !errors.Is(err, canary.ErrInvalid) {
		t.Errorf("SetErrorRate(2) = %v", err)
	}
}

func TestForwardedHeaders(t *testing.T) {
	seen := make(chan http.Header, 1)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("X-Path", r.URL.RequestURI())
		seen <- h
		io.WriteString(w, "v1\n")
	})
	c := httpsplit.Config{Stable: mustURL(t, server(t, echo).String()+"/base"), Canary: server(t, backend(t, httpsplit.BackendConfig{Version: "v2"}))}
	p, err := httpsplit.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	req := httptest.NewRequest(http.MethodGet, "http://shop.example/cart?id=7", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.RemoteAddr = "192.0.2.1:4321"
	p.ServeHTTP(httptest.NewRecorder(), req)
	h := <-seen
	if got := h.Get("X-Forwarded-For"); got != "203.0.113.9, 192.0.2.1" {
		t.Errorf("X-Forwarded-For = %q, want the client's chain with the proxy's peer appended", got)
	}
	if got := h.Get("X-Forwarded-Host"); got != "shop.example" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	if got := h.Get("X-Path"); got != "/base/cart?id=7" {
		t.Errorf("back end saw %q, want the path joined to the base URL", got)
	}
}

// TestMirrorView: while the canary has no weight and a mirror is set, the
// view answers the canary's queries from the copies; otherwise as Query.
func TestMirrorView(t *testing.T) {
	rec := &recorder{}
	stable := backend(t, httpsplit.BackendConfig{Version: "v1"})
	r := newRig(t, httpsplit.Config{MirrorConcurrency: 200}, stable, rec)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 25}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r.get(t)
	}
	// Wait for the copies in flight to be measured (a condition, not a
	// duration: the bound only stops a broken proxy from hanging the test).
	for deadline := time.Now().Add(time.Minute); ; {
		res, err := r.p.Query(ctx(t), metrics.Query{Text: "requests mirror", Window: time.Minute, End: nextSecond()})
		if err == nil && res.Value == 25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests mirror = %+v, %v; want 25", res, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	view := r.p.MirrorView()
	for _, text := range []string{"requests canary", `requests{version="canary"}`} {
		res, err := view.Query(ctx(t), metrics.Query{Text: text, Window: time.Minute, End: nextSecond()})
		if err != nil || res.Value != 25 {
			t.Errorf("view: %s = %+v, %v; want the 25 copies", text, res, err)
		}
	}
	if res, err := view.Query(ctx(t), metrics.Query{Text: "requests stable", Window: time.Minute, End: nextSecond()}); err != nil || res.Value != 100 {
		t.Errorf("view: requests stable = %+v, %v; want 100", res, err)
	}

	// No mirror: the canary's queries are the canary's.
	r2 := newRig(t, httpsplit.Config{}, backend(t, httpsplit.BackendConfig{Version: "v1"}), &recorder{})
	for range 10 {
		r2.get(t)
	}
	if _, err := r2.p.MirrorView().Query(ctx(t), metrics.Query{Text: "requests canary", Window: time.Minute, End: nextSecond()}); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("view without a mirror: requests canary = %v, want ErrNoData", err)
	}
}
