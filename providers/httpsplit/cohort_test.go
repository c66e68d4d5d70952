package httpsplit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// idRecorder is a back end that answers with its name and keeps the id
// (header X-Id) of every request it received, mirrored copies apart.
type idRecorder struct {
	name string
	mu   sync.Mutex
	ids  []string
	copy []string // ids of mirrored copies
}

func (rc *idRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	if r.Header.Get(httpsplit.MirrorHeader) != "" {
		rc.copy = append(rc.copy, r.Header.Get("X-Id"))
	} else {
		rc.ids = append(rc.ids, r.Header.Get("X-Id"))
	}
	rc.mu.Unlock()
	w.Header().Set("X-Served-By", rc.name)
	fmt.Fprint(w, rc.name)
}

func (rc *idRecorder) got() (ids, copies []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ids, copies = append([]string(nil), rc.ids...), append([]string(nil), rc.copy...)
	sort.Strings(ids)
	sort.Strings(copies)
	return ids, copies
}

// response is what a client of the proxy saw.
type response struct {
	body   string
	header http.Header
}

// send makes one real request through the proxy's loopback server.
func (r *rig) send(t *testing.T, id string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, r.url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("X-Id", id)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("request %s: status %d, body %q", id, resp.StatusCode, b)
	}
	return response{body: string(b), header: resp.Header}
}

// An A/B cohort sends exactly the requests that match one of its matches
// (header exact, prefix or regex, or a cookie) to the canary, and no other
// request: near misses of each match stay on stable.
func TestCohortEndToEnd(t *testing.T) {
	st, cn := &idRecorder{name: "stable"}, &idRecorder{name: "canary"}
	r := newRig(t, httpsplit.Config{}, st, cn)
	cohort, err := traffic.NewCohort(
		traffic.Match{Header: "X-User", Value: "beta"},
		traffic.Match{Header: "X-Group", Kind: traffic.Prefix, Value: "int-"},
		traffic.Match{Header: "X-Tier", Kind: traffic.Regex, Value: "gold|plat.*"},
		traffic.Match{Cookie: "ab", Value: "on"},
	)
	if err != nil {
		t.Fatal(err)
	}
	s := traffic.AllStable()
	s.Cohort = cohort
	if err := r.p.SetSplit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, c := range []struct {
		id     string
		header http.Header
		canary bool
	}{
		{"exact", h("X-User", "beta"), true},
		{"exact-lower-name", h("x-user", "beta"), true},
		{"exact-second-value", h("X-User", "alpha", "X-User", "beta"), true},
		{"exact-miss-longer", h("X-User", "beta2"), false},
		{"exact-miss-case", h("X-User", "Beta"), false},
		{"prefix", h("X-Group", "int-eu"), true},
		{"prefix-whole", h("X-Group", "int-"), true},
		{"prefix-miss", h("X-Group", "xint-eu"), false},
		{"regex-gold", h("X-Tier", "gold"), true},
		{"regex-plat", h("X-Tier", "platinum"), true},
		{"regex-miss-not-whole", h("X-Tier", "golden"), false},
		{"regex-miss-inside", h("X-Tier", "a-gold"), false},
		{"cookie", h("Cookie", "ab=on"), true},
		{"cookie-among-others", h("Cookie", "x=1; ab=on; y=2"), true},
		{"cookie-miss-value", h("Cookie", "ab=off"), false},
		{"cookie-miss-name", h("Cookie", "xab=on"), false},
		{"cookie-miss-as-header", h("ab", "on"), false},
		{"none", nil, false},
	} {
		got := r.send(t, c.id, c.header)
		if want := map[bool]string{true: "canary", false: "stable"}[c.canary]; got.body != want {
			t.Errorf("request %s (%v) went to %s, want %s", c.id, c.header, got.body, want)
		}
	}
	ids, _ := cn.got()
	want := []string{"cookie", "cookie-among-others", "exact", "exact-lower-name", "exact-second-value", "prefix", "prefix-whole", "regex-gold", "regex-plat"}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("the canary received %v, want exactly %v", ids, want)
	}
	// Rolled back, the cohort goes to stable too.
	if err := r.p.SetSplit(ctx(t), traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	if got := r.send(t, "after-rollback", h("X-User", "beta")); got.body != "stable" {
		t.Errorf("after the rollback the cohort went to %s", got.body)
	}
}

// A mirrored request's response never reaches the client: every client
// sees stable's answer while the canary receives the copies. Shutdown waits
// for the copies in flight, so the count needs no timing.
func TestMirrorResponseNeverReachesClient(t *testing.T) {
	st, cn := &idRecorder{name: "stable"}, &idRecorder{name: "canary"}
	r := newRig(t, httpsplit.Config{}, st, cn)
	if err := r.p.SetSplit(ctx(t), traffic.Split{Stable: 100, Mirror: 50}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	for i := range n {
		got := r.send(t, fmt.Sprintf("r%02d", i), nil)
		if got.body != "stable" || got.header.Get("X-Served-By") != "stable" {
			t.Fatalf("request %d: the client saw %q (served by %q), want stable's response", i, got.body, got.header.Get("X-Served-By"))
		}
	}
	if err := r.p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids, copies := cn.got()
	stableIDs, _ := st.got()
	if len(ids) != 0 {
		t.Errorf("the canary served client requests %v", ids)
	}
	if len(stableIDs) != n {
		t.Errorf("stable served %d requests, want %d", len(stableIDs), n)
	}
	sent := r.p.Stats()
	if len(copies) != n/2 || sent.Mirrored+sent.MirrorDropped != n/2 || sent.MirrorFailed != 0 {
		t.Errorf("the canary received %d copies (stats %+v), want %d (half of %d)", len(copies), sent, n/2, n)
	}
}

// A session the canary served by weight gets the affinity cookie, and
// every later request of it goes to the canary, across weight changes
// (down to 0 %); a session still on stable is placed by the weights, and
// only the canary's weighted responses set the cookie. Each response is
// checked. A rollback (AllStable) ends the affinity.
func TestAffinityEndToEnd(t *testing.T) {
	st, cn := &idRecorder{name: "stable"}, &idRecorder{name: "canary"}
	r := newRig(t, httpsplit.Config{}, st, cn)
	aff := traffic.Affinity{Cookie: "canary-session", Value: "r1", MaxAge: 3600}
	type session struct {
		cookie   string // the cookie the client holds, "" before any
		onCanary bool
	}
	sessions := make([]session, 20)
	round := func(weight, rounds int) {
		t.Helper()
		s := traffic.Weighted(weight)
		s.Affinity = aff
		if err := r.p.SetSplit(ctx(t), s); err != nil {
			t.Fatal(err)
		}
		for k := range rounds {
			for i := range sessions {
				ss := &sessions[i]
				h := http.Header{}
				if ss.cookie != "" {
					h.Set("Cookie", ss.cookie)
				}
				got := r.send(t, fmt.Sprintf("w%d-k%d-s%d", weight, k, i), h)
				set := got.header.Values("Set-Cookie")
				switch {
				case ss.onCanary && got.body != "canary":
					t.Fatalf("weight %d: session %d, on the canary, was served by %s", weight, i, got.body)
				case got.body == "stable" && len(set) != 0:
					t.Fatalf("weight %d: stable's response to session %d set %v", weight, i, set)
				case ss.onCanary && len(set) != 0:
					t.Fatalf("weight %d: session %d already held the cookie and got %v again", weight, i, set)
				case !ss.onCanary && got.body == "canary":
					// Served by weight: the response must carry the cookie.
					if len(set) != 1 || set[0] != aff.SetCookie() {
						t.Fatalf("weight %d: session %d, sent to the canary by weight, got Set-Cookie %q, want %q", weight, i, set, aff.SetCookie())
					}
					resp := http.Response{Header: got.header}
					c := resp.Cookies()
					if len(c) != 1 || c[0].Name != aff.Cookie || c[0].Value != aff.Value || c[0].MaxAge != aff.MaxAge {
						t.Fatalf("the cookie set does not parse back: %+v", c)
					}
					ss.cookie, ss.onCanary = c[0].Name+"="+c[0].Value, true
				}
			}
		}
	}
	onCanary := func() int {
		n := 0
		for _, s := range sessions {
			if s.onCanary {
				n++
			}
		}
		return n
	}
	round(50, 1)
	if n := onCanary(); n != 10 {
		t.Fatalf("after one round at 50%%, %d of 20 sessions are on the canary, want 10", n)
	}
	round(50, 2) // the sessions on stable are placed by the weights again
	afterFifty := onCanary()
	round(10, 3)
	afterTen := onCanary()
	if afterTen < afterFifty {
		t.Fatalf("a weight change moved sessions off the canary: %d then %d", afterFifty, afterTen)
	}
	round(0, 2)
	if n := onCanary(); n != afterTen {
		t.Fatalf("at 0%% new sessions reached the canary: %d, want %d", n, afterTen)
	}
	// Only the sessions holding the cookie reached the canary at 0 %.
	ids, _ := cn.got()
	for _, id := range ids {
		if strings.HasPrefix(id, "w0-") {
			var k, i int
			if _, err := fmt.Sscanf(id, "w0-k%d-s%d", &k, &i); err != nil || !sessions[i].onCanary {
				t.Errorf("request %s reached the canary at 0%% without the cookie", id)
			}
		}
	}
	if err := r.p.SetSplit(ctx(t), traffic.AllStable()); err != nil {
		t.Fatal(err)
	}
	for i, s := range sessions {
		h := http.Header{}
		if s.cookie != "" {
			h.Set("Cookie", s.cookie)
		}
		if got := r.send(t, fmt.Sprintf("rollback-s%d", i), h); got.body != "stable" {
			t.Errorf("after the rollback session %d was served by %s", i, got.body)
		}
	}
}

// A request of the cohort or the test route reaches the canary without
// the affinity cookie being set: only the weighted route sets it. The
// order is test route, cohort, affinity, weights.
func TestAffinityCookieOnlyOnWeightedRoute(t *testing.T) {
	st, cn := &idRecorder{name: "stable"}, &idRecorder{name: "canary"}
	r := newRig(t, httpsplit.Config{}, st, cn)
	cohort, err := traffic.NewCohort(traffic.Match{Header: "X-User", Value: "beta"})
	if err != nil {
		t.Fatal(err)
	}
	s := traffic.Split{Stable: 100, TestRoute: traffic.HeaderRoute{Name: "X-Canary", Value: "always"}, Cohort: cohort,
		Affinity: traffic.Affinity{Cookie: "cs", Value: "v", MaxAge: 60}}
	if err := r.p.SetSplit(ctx(t), s); err != nil {
		t.Fatal(err)
	}
	for _, h := range []http.Header{{"X-Canary": {"always"}}, {"X-User": {"beta"}}, {"Cookie": {"cs=v"}}} {
		got := r.send(t, "x", h)
		if got.body != "canary" || len(got.header.Values("Set-Cookie")) != 0 {
			t.Errorf("request with %v: served by %s, Set-Cookie %v; want the canary, no cookie", h, got.body, got.header.Values("Set-Cookie"))
		}
	}
	if got := r.send(t, "y", nil); got.body != "stable" {
		t.Errorf("a request matching nothing at 0%% went to %s", got.body)
	}
}

// The proxy declares every feature: Check takes cohorts of every kind and
// affinity, and refuses only an invalid split, with a FieldError.
func TestProxyCheck(t *testing.T) {
	v1, v2 := versions(t)
	r := newRig(t, httpsplit.Config{}, v1, v2)
	cohort, err := traffic.NewCohort(traffic.Match{Header: "X-A", Kind: traffic.Prefix, Value: "p"},
		traffic.Match{Header: "X-B", Kind: traffic.Regex, Value: "r.*"}, traffic.Match{Cookie: "c", Value: "v"})
	if err != nil {
		t.Fatal(err)
	}
	ok := traffic.Split{Stable: 100, Cohort: cohort, Affinity: traffic.Affinity{Cookie: "c", Value: "v", MaxAge: 1}}
	if err := r.p.Check(ok); err != nil {
		t.Errorf("Check(%v) = %v", ok, err)
	}
	bad := ok
	bad.Affinity.MaxAge = 0
	var fe *canary.FieldError
	if err := r.p.Check(bad); !errors.As(err, &fe) || fe.Field != "Split.Affinity.MaxAge" {
		t.Errorf("Check with MaxAge 0 = %v, want a FieldError on Split.Affinity.MaxAge", err)
	}
}
