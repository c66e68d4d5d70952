package newrelic_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testKey     = "NRAK-TESTKEY0123456789ABCDEFGHIJK"
	testAccount = 3141592
)

var (
	testEnd    = time.Date(2026, 3, 14, 9, 26, 53, 250_000_000, time.UTC)
	testWindow = 2 * time.Minute
)

// graphQLRequest is what the client sends to NerdGraph.
type graphQLRequest struct {
	Query     string `json:"query"`
	Variables struct {
		AccountID int    `json:"accountId"`
		Query     string `json:"query"`
	} `json:"variables"`
}

// answer writes the reply for one NRQL text (without its SINCE/UNTIL); n
// counts the requests for that text, from 1.
type answer func(t *testing.T, w http.ResponseWriter, r *http.Request, n int)

// server is a local stand-in for NerdGraph. It checks every request (path,
// method, Api-Key, account ID, the GraphQL document and the time range) and
// fails the test on a wrong one.
type server struct {
	t        *testing.T
	srv      *httptest.Server
	requests atomic.Int64

	mu    sync.Mutex
	since int64
	until int64
	// anyWindow lets requests for any window through; windows records
	// each request's window and TIMESERIES bucket (seconds, "" for none).
	anyWindow bool
	windows   []window
	answers   map[string]answer
	counts    map[string]int
}

var timeRange = regexp.MustCompile(`^(.*) SINCE (\d+) UNTIL (\d+)( TIMESERIES (\d+) seconds)?$`)

func newServer(t *testing.T) *server {
	s := &server{t: t, answers: map[string]answer{}, counts: map[string]int{}}
	s.setWindow(testEnd, testWindow)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) setWindow(end time.Time, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.until = end.UnixMilli()
	s.since = s.until - window.Milliseconds()
}

// window is the time range of one request.
type window struct {
	since, until int64
	timeseries   string
}

func (s *server) handle(nrql string, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[nrql] = a
}

func (s *server) count(nrql string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[nrql]
}

var nrqlField = regexp.MustCompile(`actor\s*\{\s*account\(id:\s*\$accountId\)\s*\{\s*nrql\(query:\s*\$query\)\s*\{[^}]*results`)

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	t := s.t
	if r.URL.Path != "/graphql" || r.Method != http.MethodPost {
		t.Errorf("%s %s, want POST /graphql", r.Method, r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if got := r.Header.Get("Api-Key"); got != testKey {
		t.Errorf("Api-Key header = %q, want the configured key", got)
		writeJSON(w, http.StatusUnauthorized, gqlErrors("Invalid API key"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req graphQLRequest
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body %s: %v", body, err)
		writeJSON(w, http.StatusBadRequest, gqlErrors("bad json"))
		return
	}
	if !nrqlField.MatchString(req.Query) {
		t.Errorf("GraphQL document does not ask for actor.account(id).nrql(query).results:\n%s", req.Query)
	}
	if req.Variables.AccountID != testAccount {
		t.Errorf("accountId = %d, want %d", req.Variables.AccountID, testAccount)
		writeJSON(w, http.StatusOK, gqlErrors("Account not found"))
		return
	}
	m := timeRange.FindStringSubmatch(req.Variables.Query)
	if m == nil {
		t.Errorf("NRQL %q does not end with SINCE <ms> UNTIL <ms>", req.Variables.Query)
		writeJSON(w, http.StatusOK, gqlErrors("no time range"))
		return
	}
	since, _ := strconv.ParseInt(m[2], 10, 64)
	until, _ := strconv.ParseInt(m[3], 10, 64)
	s.mu.Lock()
	wantSince, wantUntil, anyWindow := s.since, s.until, s.anyWindow
	s.windows = append(s.windows, window{since, until, m[5]})
	s.counts[m[1]]++
	n := s.counts[m[1]]
	a, ok := s.answers[m[1]]
	s.mu.Unlock()
	if !anyWindow && (since != wantSince || until != wantUntil || m[5] != "") {
		t.Errorf("NRQL window SINCE %d UNTIL %d, want exactly SINCE %d UNTIL %d", since, until, wantSince, wantUntil)
		writeJSON(w, http.StatusOK, gqlErrors("wrong window"))
		return
	}
	if !ok {
		t.Errorf("no answer scripted for NRQL %q", m[1])
		writeJSON(w, http.StatusOK, gqlErrors("unknown query"))
		return
	}
	a(t, w, r, n)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func gqlErrors(messages ...string) map[string]any {
	errs := make([]any, len(messages))
	for i, m := range messages {
		errs[i] = map[string]any{"message": m, "path": []string{"actor", "account", "nrql"}}
	}
	return map[string]any{"errors": errs}
}

// results is NerdGraph's answer to an NRQL query with these result rows.
func results(rows ...map[string]any) map[string]any {
	if rows == nil {
		rows = []map[string]any{}
	}
	return map[string]any{"data": map[string]any{"actor": map[string]any{"account": map[string]any{"nrql": map[string]any{
		"results":         rows,
		"currentResults":  nil,
		"previousResults": nil,
		"otherResult":     nil,
		"totalResult":     nil,
		"metadata": map[string]any{
			"eventTypes": []string{"Transaction"},
			"facets":     nil,
			"messages":   []string{},
			"timeWindow": map[string]any{"begin": 0, "end": 0, "since": "", "until": "", "compareWith": nil},
		},
	}}}}}
}

func rowsAnswer(rows ...map[string]any) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ int) {
		writeJSON(w, http.StatusOK, results(rows...))
	}
}

// steady answers row for a query without TIMESERIES, and for one with
// "TIMESERIES <n> seconds" the row in every bucket of the window, with the
// bucket's beginTimeSeconds and endTimeSeconds.
func (s *server) steady(row map[string]any) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ int) {
		s.mu.Lock()
		win := s.windows[len(s.windows)-1]
		s.mu.Unlock()
		if win.timeseries == "" {
			writeJSON(w, http.StatusOK, results(row))
			return
		}
		step, _ := strconv.ParseInt(win.timeseries, 10, 64)
		var rows []map[string]any
		for b := win.since / 1000; b+step <= win.until/1000; b += step {
			r := map[string]any{"beginTimeSeconds": float64(b), "endTimeSeconds": float64(b + step)}
			for k, v := range row {
				r[k] = v
			}
			rows = append(rows, r)
		}
		writeJSON(w, http.StatusOK, results(rows...))
	}
}

func slowAnswer(t *testing.T, w http.ResponseWriter, r *http.Request, _ int) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
	writeJSON(w, http.StatusOK, results(map[string]any{"count": 1.0}))
}

func statusAnswer(status int, v any) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ int) { writeJSON(w, status, v) }
}

// rateLimited answers the first limited requests with 429 and Retry-After,
// then rows.
func rateLimited(limited int, retryAfter string, rows ...map[string]any) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, n int) {
		if n <= limited {
			w.Header().Set("Retry-After", retryAfter)
			writeJSON(w, http.StatusTooManyRequests, gqlErrors("Too many requests"))
			return
		}
		writeJSON(w, http.StatusOK, results(rows...))
	}
}
