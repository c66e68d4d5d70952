package hook

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/meshcanary/canary"
)

// MaxLoadRequests bounds LoadTest.Requests.
const MaxLoadRequests = 100000

// LoadTest drives a bounded number of GET requests at the canary from
// inside the process, for a quickstart or a test where nothing else
// sends the canary traffic: Flagger's load tester (its "rollout" hook
// running hey) in a few lines. Each call sends exactly Requests requests,
// Concurrency at a time, and stops early if its context ends (the hook's
// timeout).
type LoadTest struct {
	// URL is where the canary answers.
	URL string
	// Requests per call: 1 to MaxLoadRequests; zero means 100.
	Requests int
	// Concurrency: 1 to 64; zero means 2.
	Concurrency int
	// Client sends them; nil means http.DefaultClient.
	Client *http.Client

	sent, answered, failed atomic.Int64
}

// LoadStats counts what a LoadTest sent over all its calls.
type LoadStats struct {
	Sent, Answered, Failed int64
}

// Stats returns the counts so far.
func (l *LoadTest) Stats() LoadStats {
	return LoadStats{Sent: l.sent.Load(), Answered: l.answered.Load(), Failed: l.failed.Load()}
}

// Hook returns the rollout hook that runs l at every analysis.
func (l *LoadTest) Hook(name string) (Hook, error) {
	n, c := l.Requests, l.Concurrency
	if n < 0 || n > MaxLoadRequests {
		return Hook{}, canary.Invalid("LoadTest.Requests", n, "must be 1 to %d", MaxLoadRequests)
	}
	if c < 0 || c > 64 {
		return Hook{}, canary.Invalid("LoadTest.Concurrency", c, "must be 1 to 64")
	}
	if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Hook{}, canary.Invalid("LoadTest.URL", "(not shown)", "must be an http or https URL")
	}
	return Hook{Name: name, Type: Rollout, Func: func(ctx context.Context, _ Payload) error { return l.Run(ctx) }}, nil
}

// Run sends one round of requests. It fails only when no request got an
// answer at all (the canary is unreachable); the answers' statuses are
// for the metrics to judge.
func (l *LoadTest) Run(ctx context.Context) error {
	n, c := l.Requests, l.Concurrency
	if n == 0 {
		n = 100
	}
	if c == 0 {
		c = 2
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	var next atomic.Int64
	var answered atomic.Int64
	var lastErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				l.sent.Add(1)
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
				if err != nil {
					l.failed.Add(1)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					l.failed.Add(1)
					var ue *url.Error
					if errors.As(err, &ue) {
						err = ue.Err
					}
					mu.Lock()
					lastErr = err
					mu.Unlock()
					continue
				}
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				l.answered.Add(1)
				answered.Add(1)
			}
		}()
	}
	wg.Wait()
	if answered.Load() == 0 {
		return fmt.Errorf("load test: no answer from the canary: %v", lastErr)
	}
	return nil
}
