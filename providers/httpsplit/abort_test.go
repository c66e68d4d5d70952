package httpsplit_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
)

// waitQuery polls q until the proxy has recorded want requests: the front
// server may still be finishing a request after the client gave up on it.
func waitQuery(t *testing.T, p *httpsplit.Proxy, text string, want int64) metrics.Result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := p.Query(ctx(t), metrics.Query{Text: text, Window: time.Minute, End: time.Now()})
		if err == nil && res.Count >= want {
			return res
		}
		if err != nil && !errors.Is(err, metrics.ErrNoData) {
			t.Fatalf("%s: %v", text, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v, %v; want %d requests recorded", text, res, err, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A response the back end breaks off half way is a server error, though
// its status line said 200.
func TestAbortedResponseIsAnError(t *testing.T) {
	broken := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	r := newRig(t, httpsplit.Config{}, broken, backend(t, httpsplit.BackendConfig{Version: "v2"}))
	resp, err := r.client.Get(r.url)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("the client read a whole response from a broken back end")
	}
	if res := waitQuery(t, r.p, "error_rate stable", 1); res.Value != 1 {
		t.Errorf("error_rate stable = %v, want 1", res.Value)
	}
}

// A client that gives up before any response leaves the request with the
// version that held it: counted as that version's error (issue 19 item 2).
func TestClientGoneIsAnError(t *testing.T) {
	arrived := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	r := newRig(t, httpsplit.Config{}, slow, backend(t, httpsplit.BackendConfig{Version: "v2"}))
	c, cancel := context.WithCancel(ctx(t))
	req, _ := http.NewRequestWithContext(c, http.MethodGet, r.url, nil)
	go func() {
		<-arrived
		cancel()
	}()
	if resp, err := r.client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a cancelled request got a response")
	}
	if res := waitQuery(t, r.p, "error_rate stable", 1); res.Value != 1 {
		t.Errorf("error_rate stable = %v, want 1", res.Value)
	}
}
