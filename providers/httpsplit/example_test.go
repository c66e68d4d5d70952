package httpsplit_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
	"github.com/meshcanary/canary/traffic"
)

// A stable v1 and a canary v2 that fails every other request, behind the
// proxy at 20 % canary: requests 4 and 9 of every ten reach the canary, and
// the proxy's own measurements show the canary's error rate.
func Example() {
	v1, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v1"})
	v2, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v2", ErrorRate: 0.5})
	stable, canary := httptest.NewServer(v1), httptest.NewServer(v2)
	defer stable.Close()
	defer canary.Close()
	stableURL, _ := url.Parse(stable.URL)
	canaryURL, _ := url.Parse(canary.URL)

	p, err := httpsplit.New(httpsplit.Config{Stable: stableURL, Canary: canaryURL})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	front := httptest.NewServer(p)

	ctx := context.Background()
	if err := p.SetSplit(ctx, traffic.Weighted(20)); err != nil {
		fmt.Println(err)
		return
	}
	var served []string
	for i := 0; i < 10; i++ {
		resp, err := http.Get(front.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		served = append(served, fmt.Sprintf("%s:%d", strings.TrimSpace(string(body)), resp.StatusCode))
	}
	front.Close() // waits for the proxy to finish (and measure) every request
	fmt.Println(strings.Join(served, " "))

	// A query reads the whole seconds up to its End; the second End falls
	// in is left to the next window. To see the requests just served, end
	// the window at the end of the current second. (A rollout instead
	// queries at each analysis instant, and every request falls in exactly
	// one of its consecutive windows.)
	end := time.Now().Truncate(time.Second).Add(time.Second)
	for _, text := range []string{"requests canary", "error_rate canary", `error_rate{version="stable"}`} {
		res, err := p.Query(ctx, metrics.Query{Text: text, Window: time.Minute, End: end})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s = %g (on %d requests)\n", text, res.Value, res.Count)
	}
	// Output:
	// v1:200 v1:200 v1:200 v1:200 v2:200 v1:200 v1:200 v1:200 v1:200 v2:500
	// requests canary = 2 (on 2 requests)
	// error_rate canary = 0.5 (on 2 requests)
	// error_rate{version="stable"} = 0 (on 8 requests)
}

// A test back end failing a quarter of its requests fails exactly every
// fourth one.
func ExampleNewBackend() {
	b, err := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v2", ErrorRate: 0.25})
	if err != nil {
		fmt.Println(err)
		return
	}
	var codes []string
	for i := 0; i < 8; i++ {
		w := httptest.NewRecorder()
		b.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		codes = append(codes, fmt.Sprint(w.Code))
	}
	fmt.Println(strings.Join(codes, " "))
	fmt.Println(b.Served(), "served,", b.Failed(), "failed")

	_, err = httpsplit.NewBackend(httpsplit.BackendConfig{ErrorRate: 5})
	fmt.Println(err)
	// Output:
	// 200 200 200 500 200 200 200 500
	// 8 served, 2 failed
	// invalid BackendConfig.ErrorRate (5): must be between 0 and 1
}

// An A/B test: the requests of a cohort (header X-User: beta, or the
// cookie ab=on) reach the canary whatever the weights; the rest stay on
// stable. With session affinity, a response the canary serves by weight
// sets the session's cookie.
func Example_abTest() {
	v1, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v1"})
	v2, _ := httpsplit.NewBackend(httpsplit.BackendConfig{Version: "v2"})
	stable, canary := httptest.NewServer(v1), httptest.NewServer(v2)
	defer stable.Close()
	defer canary.Close()
	stableURL, _ := url.Parse(stable.URL)
	canaryURL, _ := url.Parse(canary.URL)
	p, err := httpsplit.New(httpsplit.Config{Stable: stableURL, Canary: canaryURL})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	front := httptest.NewServer(p)
	defer front.Close()

	cohort, err := traffic.NewCohort(traffic.Match{Header: "X-User", Value: "beta"}, traffic.Match{Cookie: "ab", Value: "on"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.SetSplit(context.Background(), traffic.Split{Stable: 100, Cohort: cohort}); err != nil {
		fmt.Println(err)
		return
	}
	get := func(header, value string) (string, string) {
		req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error(), ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b)), resp.Header.Get("Set-Cookie")
	}
	for _, h := range [][2]string{{"X-User", "beta"}, {"Cookie", "ab=on"}, {"X-User", "alpha"}, {"", ""}} {
		v, _ := get(h[0], h[1])
		fmt.Printf("%s %q → %s\n", h[0], h[1], v)
	}

	// Session affinity at 100 % by weight: the canary's answer sets the
	// cookie that keeps the session on it when the weight comes down.
	s := traffic.Weighted(100)
	s.Affinity = traffic.Affinity{Cookie: "canary-session", Value: "r1", MaxAge: 3600}
	if err := p.SetSplit(context.Background(), s); err != nil {
		fmt.Println(err)
		return
	}
	v, cookie := get("", "")
	fmt.Printf("weighted → %s, Set-Cookie: %s\n", v, cookie)
	s.Stable, s.Canary = 100, 0
	if err := p.SetSplit(context.Background(), s); err != nil {
		fmt.Println(err)
		return
	}
	v, _ = get("Cookie", "canary-session=r1")
	fmt.Printf("at 0 %% with the cookie → %s\n", v)
	// Output:
	// X-User "beta" → v2
	// Cookie "ab=on" → v2
	// X-User "alpha" → v1
	//  "" → v1
	// weighted → v2, Set-Cookie: canary-session=r1; Max-Age=3600; Path=/
	// at 0 % with the cookie → v2
}
