package kubetest

import (
	"net/http"
	"sync"

	"k8s.io/client-go/rest"
)

// Counter counts the HTTP requests made through a config from
// CountingConfig, by verb ("GET", "PUT", "PATCH"…), and can make them
// authenticate as a user with no permissions.
type Counter struct {
	mu     sync.Mutex
	counts map[string]int
	deny   bool
	denyTo string
}

// CountingConfig returns a copy of e.Config whose requests c counts.
func (e *Environment) CountingConfig() (*rest.Config, *Counter) {
	c := &Counter{counts: map[string]int{}, denyTo: e.denyTok}
	cfg := rest.CopyConfig(e.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			c.mu.Lock()
			c.counts[req.Method]++
			deny := c.deny
			c.mu.Unlock()
			if deny {
				req = req.Clone(req.Context())
				req.Header.Set("Authorization", "Bearer "+c.denyTo)
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg, c
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Count returns how many requests with the HTTP method verb were sent.
func (c *Counter) Count(verb string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[verb]
}

// Total returns how many requests were sent.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.counts {
		n += v
	}
	return n
}

// Counts returns a copy of the counts by verb.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]int, len(c.counts))
	for k, v := range c.counts {
		m[k] = v
	}
	return m
}

// Reset sets every count to zero.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.counts)
}

// Deny, when on, makes the following requests authenticate as a user that
// RBAC grants nothing, so the real server answers 403 Forbidden. It is how
// a test breaks a client honestly, with the server's own error.
func (c *Counter) Deny(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deny = on
}
