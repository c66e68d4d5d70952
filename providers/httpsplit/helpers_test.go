package httpsplit_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshcanary/canary/providers/httpsplit"
)

// clock is a manual clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)

// server starts h on loopback for the test's duration.
func server(t testing.TB, h http.Handler) *url.URL {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func backend(t testing.TB, c httpsplit.BackendConfig) *httpsplit.Backend {
	t.Helper()
	b, err := httpsplit.NewBackend(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rig is a proxy served on loopback in front of two backends.
type rig struct {
	p      *httpsplit.Proxy
	url    string
	client *http.Client
}

// newRig builds the proxy from c, filling in Stable and Canary from the
// handlers, and serves it on loopback.
func newRig(t testing.TB, c httpsplit.Config, stable, canary http.Handler) *rig {
	t.Helper()
	c.Stable, c.Canary = server(t, stable), server(t, canary)
	p, err := httpsplit.New(c)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(p)
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		front.Close()
		p.Close()
		tr.CloseIdleConnections()
	})
	return &rig{p: p, url: front.URL, client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// do sends a request through the proxy and returns the status and body.
func (r *rig) do(t testing.TB, method, path string, body io.Reader, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (r *rig) get(t testing.TB) string {
	t.Helper()
	code, body := r.do(t, http.MethodGet, "/", nil, nil)
	if code != http.StatusOK {
		t.Fatalf("GET through the proxy: status %d, body %q", code, body)
	}
	return body
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// refusedURL returns an http URL of a loopback port nothing listens on.
func refusedURL(t testing.TB) *url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return &url.URL{Scheme: "http", Host: addr}
}

// serve calls the proxy's ServeHTTP directly (the back ends are still real
// loopback servers). Unlike a request through the front server, the proxy
// has recorded the request when serve returns, so a test may move the
// clock right after.
func (r *rig) serve(t testing.TB, method, path string, header http.Header) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	w := httptest.NewRecorder()
	r.p.ServeHTTP(w, req)
	return w.Code, strings.TrimSpace(w.Body.String())
}
