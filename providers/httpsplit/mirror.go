package httpsplit

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
)

// MirrorHeader is set to "1" on every mirrored copy, so that the canary can
// tell copies from real requests (for example to skip side effects).
const MirrorHeader = "X-Httpsplit-Mirror"

// mirrorCopy is a request chosen for mirroring. Its body, if any, is
// captured while the stable back end reads it, so the primary request is
// never delayed by the copy.
type mirrorCopy struct {
	body *captureBody // nil when the request has no body
}

// prepareMirror decides whether r can be mirrored at all; it returns nil
// (and counts a drop) when r's body is known to be too large.
func (p *Proxy) prepareMirror(r *http.Request) *mirrorCopy {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &mirrorCopy{}
	}
	if r.ContentLength > p.cfg.MirrorMaxBody {
		p.mirrorDropped.Add(1)
		return nil
	}
	c := &captureBody{rc: r.Body, limit: p.cfg.MirrorMaxBody, want: r.ContentLength}
	if r.ContentLength > 0 {
		c.buf = make([]byte, 0, r.ContentLength)
	}
	return &mirrorCopy{body: c}
}

// launchMirror sends a copy of r to the canary in the background, unless
// MirrorConcurrency copies are in flight, the body was not captured whole,
// or the proxy is closing; each of those counts a drop. It is called after
// the primary response has been written, while r is still valid.
func (p *Proxy) launchMirror(r *http.Request, m *mirrorCopy) {
	var body []byte
	if m.body != nil {
		b, ok := m.body.captured()
		if !ok {
			p.mirrorDropped.Add(1)
			return
		}
		body = b
	}
	p.closeMu.RLock()
	if p.closed.Load() {
		p.closeMu.RUnlock()
		p.mirrorDropped.Add(1)
		return
	}
	select {
	case p.sem <- struct{}{}:
	default:
		p.closeMu.RUnlock()
		p.mirrorDropped.Add(1)
		return
	}
	p.mirrors.Add(1)
	p.closeMu.RUnlock()

	req := r.Clone(p.ctx) // deep copy of the headers; the context is replaced below
	req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	go func() {
		defer p.mirrors.Done()
		defer func() { <-p.sem }()
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.MirrorTimeout)
		defer cancel()
		dw := &discardWriter{header: make(http.Header)}
		start := p.now()
		p.mirror.ServeHTTP(dw, req.WithContext(ctx))
		p.mirrored.Add(1)
		if dw.noResponse {
			p.mirrorFailed.Add(1)
			return
		}
		p.series[mirrorVersion].record(p.now, start, dw.status >= 500)
	}()
}

// captureBody passes a request body through to the stable back end and
// keeps a copy of up to limit bytes.
type captureBody struct {
	rc    io.ReadCloser
	limit int64
	want  int64 // the request's ContentLength; -1 when unknown

	mu   sync.Mutex // the transport may read the body on its own goroutine
	buf  []byte
	n    int64
	eof  bool
	over bool
}

func (c *captureBody) Read(b []byte) (int, error) {
	n, err := c.rc.Read(b)
	c.mu.Lock()
	c.n += int64(n)
	if !c.over {
		if int64(len(c.buf)+n) > c.limit {
			c.over, c.buf = true, nil
		} else {
			c.buf = append(c.buf, b[:n]...)
		}
	}
	if err == io.EOF {
		c.eof = true
	}
	c.mu.Unlock()
	return n, err
}

func (c *captureBody) Close() error { return c.rc.Close() }

// captured returns the whole body when it was read to its end and fitted
// within the limit.
func (c *captureBody) captured() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over || !(c.eof || (c.want >= 0 && c.n == c.want)) {
		return nil, false
	}
	return c.buf, true // complete: no later Read appends to it
}
