package httpsplit

import (
	"io"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/meshcanary/canary"
)

// BackendConfig configures a Backend.
type BackendConfig struct {
	// Version is written in every response: in the X-Version header and as
	// the body ("v2\n"). Empty writes an empty body and no header.
	Version string
	// ErrorRate is the fraction of requests, 0 to 1, answered with
	// 500 Internal Server Error. Failures are spread evenly and
	// deterministically: request n (from 0) fails when ⌊(n+1)·r⌋ > ⌊n·r⌋,
	// with r taken in parts per million, so 0.05 fails exactly every 20th
	// request. Zero never fails.
	ErrorRate float64
	// Latency is how long each response waits before it is written (less if
	// the request's context ends first). Zero answers at once.
	Latency time.Duration
}

// Backend is a small HTTP handler that stands for one version of a
// service in examples and tests: it answers with its version, waits a
// fixed latency, and fails a deterministic fraction of requests. It reads
// and discards request bodies. Build one with NewBackend; it is safe for
// concurrent use.
type Backend struct {
	version string
	latency time.Duration
	ppm     atomic.Uint64 // error rate in parts per million
	n       atomic.Uint64 // requests seen
	failed  atomic.Uint64
}

// NewBackend validates c and returns a Backend.
func NewBackend(c BackendConfig) (*Backend, error) {
	if c.Latency < 0 {
		return nil, canary.Invalid("BackendConfig.Latency", c.Latency, "must not be negative")
	}
	b := &Backend{version: c.Version, latency: c.Latency}
	if err := b.setRate("BackendConfig.ErrorRate", c.ErrorRate); err != nil {
		return nil, err
	}
	return b, nil
}

// SetErrorRate changes the fraction of failing requests from the next
// request on; r must be between 0 and 1.
func (b *Backend) SetErrorRate(r float64) error { return b.setRate("ErrorRate", r) }

func (b *Backend) setRate(field string, r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return canary.Invalid(field, r, "must be between 0 and 1")
	}
	b.ppm.Store(uint64(math.Round(r * 1e6)))
	return nil
}

// ServeHTTP answers r.
func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	n := b.n.Add(1) - 1
	i, ppm := n%1_000_000, b.ppm.Load()
	fail := (i+1)*ppm/1_000_000 > i*ppm/1_000_000
	if b.latency > 0 {
		t := time.NewTimer(b.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	if b.version != "" {
		w.Header().Set("X-Version", b.version)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if fail {
		b.failed.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = io.WriteString(w, b.version+"\n")
}

// Served returns how many requests b has answered or is answering.
func (b *Backend) Served() uint64 { return b.n.Load() }

// Failed returns how many of them it answered with a 500.
func (b *Backend) Failed() uint64 { return b.failed.Load() }
