package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"sync"
	"time"

	"github.com/meshcanary/canary/analysis"
	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/rollback"
	"github.com/meshcanary/canary/traffic"
)

// Strategies lists the values of -strategy: the release shapes the
// quickstart runs over httpsplit. "canary" (the default) is the weighted
// canary of the three rollouts above; each other shape runs a healthy and
// a faulty canary.
var strategies = []string{"canary", "abtest", "bluegreen", "mirror", "affinity"}

// The headers the load sends on a share of its requests: the A/B
// cohort's and blue/green's preview header.
const (
	cohortHeader  = "X-Cohort"
	cohortValue   = "beta"
	previewHeader = "X-Preview"
	previewValue  = "1"
	// shapeShare: one request in shapeShare carries the shape's header.
	shapeShare = 4
	// sessions is how many users the affinity shape's load stands for at
	// once, each with a cookie jar of its own; each makes sessionLength
	// requests and is replaced by a new user, so that new sessions keep
	// arriving (the weights apply to them).
	sessions      = 40
	sessionLength = 5
	// affinityCookie is the session cookie's name.
	affinityCookie = "checkout-canary"
)

// shapePlan returns the plan of a shape other than the weighted canary.
func shapePlan(o options) rollback.Plan {
	p := rollback.Plan{Interval: o.interval, ProgressDeadline: 15 * o.interval}
	switch o.strategy {
	case "abtest":
		// Flagger's A/B test: the cohort to the canary, analysed for at
		// least three intervals, then promoted on a Pass.
		p.Strategy = rollback.StrategyABTest
		p.ABTest = &rollback.ABTest{Cohort: []traffic.Match{{Header: cohortHeader, Value: cohortValue}}, Iterations: 3}
	case "bluegreen", "mirror":
		// Blue/green: analysed before the switch on the preview route's
		// requests ("bluegreen") or on a mirror of half of production's
		// ("mirror", responses discarded), then switched in one write and
		// analysed after it with the old version warm, then the old
		// version is stopped.
		p.Strategy = rollback.StrategyBlueGreen
		p.BlueGreen = &rollback.BlueGreen{PrePromotion: 2 * o.interval, PostPromotion: 2 * o.interval}
		if o.strategy == "mirror" {
			p.BlueGreen.Mirror = 50
		} else {
			p.BlueGreen.Preview = traffic.HeaderRoute{Name: previewHeader, Value: previewValue}
		}
	case "affinity":
		// The weighted canary, each stage's split carrying a session
		// cookie: a user the canary served stays on it.
		p.Stages = rollback.Weights(o.steps...)
		p.Hold = time.Duration(o.holdLooks) * o.interval
		p.SessionAffinity = &rollback.SessionAffinity{Cookie: affinityCookie, MaxAge: time.Hour}
	}
	return p
}

// postAnalyzer judges the new version after a blue/green switch, when
// stable serves nothing to compare it with: on a fixed bound of its error
// rate over at least 50 requests.
func postAnalyzer() analysis.Analyzer {
	return analysis.Threshold{Limits: []analysis.Limit{analysis.AtMost("error-rate", 0.02)}, MinCount: 50}
}

// shapeLoad is what the load sends for a shape: a header on one request in
// shapeShare, or requests from users (sessions) with cookie jars. It also
// checks, for the affinity shape, every response of every session: a
// request carrying the session cookie must not be served by stable while
// the split in force keeps sessions (a flip).
type shapeLoad struct {
	header   http.Header
	mesh     *httpsplit.Proxy
	affinity bool

	mu      sync.Mutex
	slots   []*session
	started int // sessions begun
	reached int // sessions the canary served
	flips   int
}

// session is one user of the affinity shape.
type session struct {
	client   *http.Client
	requests int
	onCanary bool
}

func newShapeLoad(o options, mesh *httpsplit.Proxy) *shapeLoad {
	l := &shapeLoad{mesh: mesh}
	switch o.strategy {
	case "abtest":
		l.header = http.Header{cohortHeader: {cohortValue}}
	case "bluegreen":
		l.header = http.Header{previewHeader: {previewValue}}
	case "affinity":
		l.affinity = true
		l.slots = make([]*session, sessions)
	}
	return l
}

// prepare returns the client for request n and sets its headers, and the
// session it belongs to (nil when none).
func (l *shapeLoad) prepare(n int64, req *http.Request, fallback *http.Client) (*http.Client, *session) {
	if l == nil {
		return fallback, nil
	}
	if l.header != nil && n%shapeShare == 0 {
		for k, vs := range l.header {
			req.Header[k] = vs
		}
	}
	if !l.affinity {
		return fallback, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := int(n % int64(len(l.slots)))
	s := l.slots[i]
	if s == nil || s.requests >= sessionLength {
		jar, _ := cookiejar.New(nil)
		s = &session{client: &http.Client{Timeout: 5 * time.Second, Jar: jar}}
		l.slots[i] = s
		l.started++
	}
	s.requests++
	return s.client, s
}

// served records which version answered the session's request. A flip
// is a request that carried the session cookie (the jar adds it once the
// canary has set it) answered by stable while the split in force keeps
// sessions; a request sent before the cookie came back (the session's
// requests overlap) may go either way and is no flip.
func (l *shapeLoad) served(ctx context.Context, s *session, resp *http.Response) {
	if l == nil || s == nil {
		return
	}
	v := resp.Header.Get("X-Version")
	_, cookieErr := resp.Request.Cookie(affinityCookie)
	sp, err := l.mesh.Split(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	if v == "v2" && !s.onCanary {
		s.onCanary = true
		l.reached++
	}
	if v == "v1" && cookieErr == nil && err == nil && !sp.Affinity.IsZero() {
		l.flips++
	}
}

// report says how the sessions fared, for the affinity shape.
func (l *shapeLoad) report() string {
	if l == nil || !l.affinity {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("; %s sessions, %s of them reached the canary, %d flipped back to stable while sessions were kept",
		display.FormatNumber(float64(l.started), 0), display.FormatNumber(float64(l.reached), 0), l.flips)
}
