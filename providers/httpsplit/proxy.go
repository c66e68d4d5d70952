package httpsplit

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/traffic"
)

// ErrClosed is returned (wrapped) by the Router methods of a closed Proxy.
// Its code is [canary.FailedPrecondition]. It does not match
// [traffic.ErrNotFound]: closing the proxy (a process shutting down) says
// nothing about the canary, and must not make a rollout roll back.
var ErrClosed = canary.NewError(canary.FailedPrecondition, "httpsplit: proxy closed")

// Proxy is the in-process mesh: an http.Handler that sends each request to
// the stable or the canary back end, a [traffic.Router] that sets the split,
// and a [metrics.Provider] that answers from what the proxy measured. Build
// one with New; the zero Proxy is not usable. A Proxy is safe for
// concurrent use.
type Proxy struct {
	cfg     Config
	now     func() time.Time
	errLog  *log.Logger
	ownedTr *http.Transport // the transport New built, closed by Close

	proxies [2]*httputil.ReverseProxy // [stable, canary]
	mirror  *httputil.ReverseProxy    // to the canary, for mirrored copies
	route   atomic.Pointer[route]
	router  *traffic.Router // over the proxy's routeDriver
	writeMu sync.Mutex      // serialises writes of route

	closed  atomic.Bool
	closeMu sync.RWMutex    // held for reading while a mirror is launched
	ctx     context.Context // cancelled by Close; parent of mirrors
	cancel  context.CancelFunc
	mirrors sync.WaitGroup
	sem     chan struct{}

	mirrored, mirrorDropped, mirrorFailed atomic.Uint64

	series  [numVersions]*series
	sources [2]*metrics.Source // Query's and MirrorView's (metrics.go)
}

// route is one split in force with its own request counters, so that a new
// split starts its deterministic sequence from the beginning.
type route struct {
	split  traffic.Split
	cohort []matcher     // split.Cohort, compiled
	next   atomic.Uint64 // requests routed by weight under this split
	mirror atomic.Uint64 // stable-bound requests considered for a mirror
}

var (
	_ http.Handler        = (*Proxy)(nil)
	_ traffic.Driver      = routeDriver{}
	_ traffic.Preflighter = routeDriver{}
	_ traffic.Featurer    = routeDriver{}
	_ traffic.Preflighter = (*Proxy)(nil)
	_ metrics.Provider    = (*Proxy)(nil)
)

// New validates c and returns a Proxy that sends every request to the
// stable version ([traffic.AllStable]). Bad input is a *[canary.FieldError]
// naming the field.
func New(c Config) (*Proxy, error) {
	c, err := c.normalize()
	if err != nil {
		return nil, err
	}
	p := &Proxy{cfg: c, now: c.Now, errLog: c.ErrorLog, sem: make(chan struct{}, c.MirrorConcurrency)}
	rpLog := c.ErrorLog // the reverse proxy's own messages (a body copy that failed)
	if rpLog == nil {
		rpLog = log.New(io.Discard, "", 0)
	}
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 256
		t.MaxIdleConnsPerHost = 64
		p.ownedTr, c.Transport = t, t
		p.cfg.Transport = t
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	pool := &bufferPool{}
	for i, target := range []*url.URL{c.Stable, c.Canary} {
		target := *target
		var modify func(*http.Response) error
		if i == int(canaryVersion) {
			modify = addAffinityCookie
		}
		p.proxies[i] = &httputil.ReverseProxy{
			ModifyResponse: modify,
			Rewrite: func(pr *httputil.ProxyRequest) {
				// Keep the client's X-Forwarded-For chain and append to it.
				pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
				pr.SetXForwarded()
				pr.SetURL(&target)
			},
			Transport:    c.Transport,
			BufferPool:   pool,
			ErrorHandler: p.proxyError,
			ErrorLog:     rpLog,
		}
	}
	canaryURL := *c.Canary
	p.mirror = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			pr.SetURL(&canaryURL)
			pr.Out.Header.Set(MirrorHeader, "1")
		},
		Transport:  c.Transport,
		BufferPool: pool,
		ErrorLog:   rpLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if d, ok := w.(*discardWriter); ok {
				d.noResponse = true
			}
			if p.errLog != nil {
				p.errLog.Printf("httpsplit: mirror %s %s: %v", r.Method, r.URL.Redacted(), err)
			}
		},
	}
	retention := int64((c.Retention + time.Second - 1) / time.Second)
	for v := range p.series {
		p.series[v] = newSeries(retention, c.LatencySamples)
	}
	split := traffic.AllStable()
	p.route.Store(&route{split: split})
	p.router = traffic.NewRouter(routeDriver{p}, traffic.Options{Name: "httpsplit proxy"})
	p.initMetrics()
	return p, nil
}

// ServeHTTP routes r. A request whose header matches the split's
// TestRoute goes to the canary; so does one in the split's Cohort, and one
// that carries the Affinity cookie; otherwise the weights decide,
// deterministically (see the package doc), and a response the canary
// serves by weight carries the Affinity cookie, when the split has one.
// Requests sent to the stable version may also be mirrored to the canary.
// After Close, ServeHTTP answers 503.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.closed.Load() {
		http.Error(w, "httpsplit: proxy closed", http.StatusServiceUnavailable)
		return
	}
	start := p.now()
	rt := p.route.Load()
	v := stable
	aff := rt.split.Affinity
	switch {
	case rt.split.TestRoute != (traffic.HeaderRoute{}) && headerMatches(r.Header, rt.split.TestRoute):
		v = canaryVersion
	case rt.inCohort(r):
		v = canaryVersion
	case !aff.IsZero() && hasCookie(r, aff.Cookie, aff.Value):
		v = canaryVersion
	case rt.split.Canary > 0 && pick(rt.next.Add(1)-1, rt.split.Canary):
		v = canaryVersion
		if !aff.IsZero() {
			r = r.WithContext(context.WithValue(r.Context(), setCookieKey{}, aff.SetCookie()))
		}
	}

	var m *mirrorCopy
	if v == stable && rt.split.Mirror > 0 && pick(rt.mirror.Add(1)-1, rt.split.Mirror) {
		m = p.prepareMirror(r)
		if m != nil && m.body != nil {
			shallow := *r
			shallow.Body = m.body
			r = &shallow
		}
	}

	sw := &statusWriter{ResponseWriter: w}
	completed := false
	defer func() {
		// Runs also when the reverse proxy aborts the response with a
		// panic (http.ErrAbortHandler): that request counts as an error,
		// whether the back end or the client broke it off.
		if !completed && r.Context().Err() != nil {
			sw.clientGone = true
		}
		p.series[v].record(p.now, start, sw.failed(completed))
		if completed && m != nil {
			p.launchMirror(r, m)
		}
	}()
	out := r
	if p.cfg.UpstreamTimeout > 0 {
		tctx, cancel := context.WithTimeoutCause(r.Context(), p.cfg.UpstreamTimeout, errUpstreamTimeout)
		defer cancel()
		out = r.WithContext(tctx)
	}
	p.proxies[v].ServeHTTP(sw, out)
	completed = true
}

// errUpstreamTimeout is the cause of a proxied request's context when
// Config.UpstreamTimeout expired.
var errUpstreamTimeout = errors.New("httpsplit: upstream request timeout")

// pick reports whether the n-th request (from 0) under a share of pct
// percent is one of the share. It spreads the share evenly, like
// Bresenham's line: exactly pct of any 100 consecutive requests are picked,
// and for a pct that divides 100, exactly one in every 100/pct.
func pick(n uint64, pct int) bool {
	i, p := n%100, uint64(pct)
	return (i+1)*p/100 > i*p/100
}

// inCohort reports whether r satisfies any match of the route's cohort.
func (rt *route) inCohort(r *http.Request) bool {
	for _, m := range rt.cohort {
		if m(r) {
			return true
		}
	}
	return false
}

// addAffinityCookie is the canary reverse proxy's ModifyResponse: it adds
// the Set-Cookie header ServeHTTP asked for (a response served by weight
// under a split with an Affinity), after the back end's own headers.
func addAffinityCookie(resp *http.Response) error {
	if c, ok := resp.Request.Context().Value(setCookieKey{}).(string); ok {
		resp.Header.Add("Set-Cookie", c)
	}
	return nil
}

func headerMatches(h http.Header, tr traffic.HeaderRoute) bool {
	for _, v := range h.Values(tr.Name) {
		if v == tr.Value {
			return true
		}
	}
	return false
}

func (p *Proxy) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if context.Cause(r.Context()) == errUpstreamTimeout {
		// Measured as a 5xx of the version, as Envoy's 504.
		if p.errLog != nil {
			p.errLog.Printf("httpsplit: %s %s: upstream request timeout after %v: %v", r.Method, r.URL.Redacted(), p.cfg.UpstreamTimeout, err)
		}
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	if sw, ok := w.(*statusWriter); ok && r.Context().Err() != nil {
		sw.clientGone = true
	}
	if p.errLog != nil {
		p.errLog.Printf("httpsplit: %s %s: %v", r.Method, r.URL.Redacted(), err)
	}
	w.WriteHeader(http.StatusBadGateway)
}

// statusWriter remembers the final status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status     int
	clientGone bool
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// failed reports whether the response counts as an error of the version
// that held the request: a 5xx, a response the proxy aborted half way, or a
// request its client abandoned before the whole response had been written
// (nginx's 499 "client closed request"). Clients give up on a version that
// is too slow for them; leaving such requests out would let a canary that
// never answers look healthy whenever its clients time out before
// Config.UpstreamTimeout (issue 19 item 2).
func (s *statusWriter) failed(completed bool) bool {
	return s.clientGone || !completed || s.status >= 500
}

// Router returns the proxy's *[traffic.Router], for code that takes one.
// SetSplit, Split and Release below are its methods.
func (p *Proxy) Router() *traffic.Router { return p.router }

// SetSplit makes s the split in force for the next request, through the
// proxy's [traffic.Router] (see [traffic.Router.SetSplit]). It validates s
// first and changes nothing when s is invalid. Writing the split already
// in force keeps it, with its place in the routing sequence; a different
// split starts its sequence afresh.
func (p *Proxy) SetSplit(ctx context.Context, s traffic.Split) error {
	return p.router.SetSplit(ctx, s)
}

// Check reports, without any I/O, whether SetSplit would take s (see
// [traffic.Router.Check]): the proxy carries every valid split, so only an
// invalid one is refused. A rollout asks it for every split of its plan.
func (p *Proxy) Check(s traffic.Split) error { return p.router.Check(s) }

// Split returns the split in force.
func (p *Proxy) Split(ctx context.Context) (traffic.Split, error) { return p.router.Split(ctx) }

// Release drops the test route and the mirror and keeps the weights.
func (p *Proxy) Release(ctx context.Context) error { return p.router.Release(ctx) }

// Preflight is the proxy's [traffic.Preflighter] (see the driver's
// Preflight below): the route is ephemeral, and a rollout measuring its
// versions through the proxy must call them "stable" and "canary".
func (p *Proxy) Preflight(ctx context.Context, v traffic.Versions) (traffic.Facts, error) {
	return p.router.Preflight(ctx, v)
}

// routeDriver is the [traffic.Driver] of the in-process route: the Version
// is the *route in force, so a write pinned to a route replaced since is a
// conflict.
type routeDriver struct{ p *Proxy }

func (d routeDriver) Read(context.Context) (traffic.Split, traffic.Version, error) {
	if d.p.closed.Load() {
		return traffic.Split{}, nil, ErrClosed
	}
	rt := d.p.route.Load()
	return rt.split, rt, nil
}

var errReplaced = canary.WithCode(canary.Conflict, errors.New("httpsplit: the split changed since it was read"))

func (d routeDriver) Write(_ context.Context, v traffic.Version, s traffic.Split) (traffic.Split, traffic.Version, error) {
	p := d.p
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	if p.closed.Load() {
		return traffic.Split{}, nil, ErrClosed
	}
	cur := p.route.Load()
	switch {
	case v != traffic.Version(cur):
		return traffic.Split{}, nil, errReplaced
	case cur.split == s:
		return s, cur, nil // keeps its place in the routing sequence
	}
	cohort, err := compileCohort(s.Cohort)
	if err != nil {
		return traffic.Split{}, nil, err
	}
	next := &route{split: s, cohort: cohort}
	p.route.Store(next)
	return s, next, nil
}

func (routeDriver) ErrorCode(err error) canary.ErrorCode { return canary.Code(err) }

// Features: the proxy carries every cohort match and session affinity.
func (routeDriver) Features() traffic.Features {
	return traffic.Features{HeaderMatch: true, PrefixMatch: true, RegexMatch: true, CookieMatch: true, Affinity: true}
}

// Preflight tells a rollout, before it writes anything, that the route is
// ephemeral (it lives in this process and starts all-stable, so a resumed
// rollout writes its split again without reporting a change made outside)
// and, when the rollout measures its versions through this proxy
// (v.Measured), refuses version names the proxy does not measure: its
// back ends are "stable" and "canary", and any other name would fail
// every query once traffic had moved.
func (d routeDriver) Preflight(_ context.Context, v traffic.Versions) (traffic.Facts, error) {
	f := traffic.Facts{Ephemeral: true}
	if d.p.closed.Load() {
		return f, ErrClosed
	}
	if v.Measured {
		for _, c := range []struct{ field, got, want string }{
			{"Versions.Stable", v.Stable, versionNames[stable]},
			{"Versions.Canary", v.Canary, versionNames[canaryVersion]},
		} {
			if c.got != c.want {
				return f, canary.Invalid(c.field, c.got, "is not a version this proxy measures; its back ends are measured as %q and %q",
					versionNames[stable], versionNames[canaryVersion])
			}
		}
	}
	return f, nil
}

// Close stops the proxy at once: ServeHTTP answers 503 from then on, the
// Router methods return ErrClosed (code [canary.FailedPrecondition]),
// mirrored copies in flight are cancelled and waited for, and the idle
// connections of the transport New built are closed. Queries keep
// answering from what was measured. Closing twice is harmless. Close does
// not wait for primary requests in flight; shut down the http.Server that
// serves the proxy first.
func (p *Proxy) Close() error {
	p.stop()
	p.cancel()
	p.mirrors.Wait()
	p.closeIdle()
	return nil
}

// Shutdown stops the proxy as Close does, but lets mirrored copies in
// flight finish until ctx is done; then it cancels them, waits for them and
// returns ctx's error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.stop()
	done := make(chan struct{})
	go func() {
		p.mirrors.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.cancel()
		<-done
	}
	p.cancel()
	p.closeIdle()
	return err
}

// stop refuses new splits, requests and mirrors.
func (p *Proxy) stop() {
	p.writeMu.Lock()
	p.closeMu.Lock()
	p.closed.Store(true)
	p.closeMu.Unlock()
	p.writeMu.Unlock()
}

func (p *Proxy) closeIdle() {
	if p.ownedTr != nil {
		p.ownedTr.CloseIdleConnections()
	}
}

// Stats are counters of the mirror since New.
type Stats struct {
	// Mirrored counts copies sent to the canary (whatever it answered).
	Mirrored uint64
	// MirrorDropped counts copies not sent: MirrorConcurrency copies were
	// already in flight, the body was larger than MirrorMaxBody or was not
	// read to its end by the stable back end, or the proxy was closing.
	MirrorDropped uint64
	// MirrorFailed counts sent copies that got no response (connection
	// refused, MirrorTimeout, cancelled by Close or Shutdown). Responses, 5xx included, are
	// measured under the version "mirror" instead.
	MirrorFailed uint64
}

// Stats returns the mirror counters.
func (p *Proxy) Stats() Stats {
	return Stats{Mirrored: p.mirrored.Load(), MirrorDropped: p.mirrorDropped.Load(), MirrorFailed: p.mirrorFailed.Load()}
}

// bufferPool lends the reverse proxy its 32 KiB copy buffers.
type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }

// discardWriter is the ResponseWriter of a mirrored request: it keeps the
// status and throws the body away.
type discardWriter struct {
	header     http.Header
	status     int
	noResponse bool
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 && code >= 200 {
		d.status = code
	}
}
func (d *discardWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	return len(b), nil
}

var _ io.Writer = (*discardWriter)(nil)
