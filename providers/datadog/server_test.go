package datadog_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Keys the test server expects. They are long and distinctive so that a
// leak is found by a plain substring search.
const (
	testAPIKey = "ddapikey-0123456789abcdef0123456789abcdef"
	testAppKey = "ddappkey-fedcba9876543210fedcba9876543210fedcba98"
)

// The window every test asks about unless it says otherwise: one minute
// ending at a time that is not on a 15 s boundary, so that the buckets at
// both ends of the window are partial.
var (
	testEnd    = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	testWindow = time.Minute
)

// request is the part of a v2 scalar or timeseries request the server reads.
type request struct {
	Data struct {
		Type       string `json:"type"`
		Attributes struct {
			From     int64  `json:"from"`
			To       int64  `json:"to"`
			Interval *int64 `json:"interval"`
			Queries  []struct {
				DataSource string `json:"data_source"`
				Query      string `json:"query"`
				Name       string `json:"name"`
				Aggregator string `json:"aggregator"`
			} `json:"queries"`
			Formulas []struct {
				Formula string `json:"formula"`
			} `json:"formulas"`
		} `json:"attributes"`
	} `json:"data"`
}

// answer writes the reply to one request; kind is "scalar" or "timeseries";
// n counts the requests for this query text, from 1.
type answer func(t *testing.T, w http.ResponseWriter, r *http.Request, kind string, req request, n int)

// server is a local stand-in for Datadog's v2 query API. It checks every
// request (path, method, keys, window, body shape) and fails the test on a
// wrong one.
type server struct {
	t        *testing.T
	srv      *httptest.Server
	requests atomic.Int64

	mu   sync.Mutex
	from int64 // the window the test asks about, epoch ms
	to   int64
	// anyWindow lets requests for any window through, for tests whose
	// answers check the window themselves.
	anyWindow bool
	answers   map[string]answer
	counts    map[string]int
}

func newServer(t *testing.T) *server {
	s := &server{
		t:       t,
		answers: map[string]answer{},
		counts:  map[string]int{},
	}
	s.setWindow(testEnd, testWindow)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *server) setWindow(end time.Time, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to = end.UnixMilli()
	s.from = s.to - window.Milliseconds()
}

func (s *server) handle(query string, a answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers[query] = a
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	t := s.t
	var kind string
	switch r.URL.Path {
	case "/api/v2/query/scalar":
		kind = "scalar"
	case "/api/v2/query/timeseries":
		kind = "timeseries"
	default:
		t.Errorf("request to %s, want /api/v2/query/scalar or /api/v2/query/timeseries", r.URL.Path)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		t.Errorf("%s %s, want POST", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("DD-API-KEY"); got != testAPIKey {
		t.Errorf("DD-API-KEY header = %q, want the configured API key", got)
		http.Error(w, `{"errors":["Forbidden"]}`, http.StatusForbidden)
		return
	}
	if got := r.Header.Get("DD-APPLICATION-KEY"); got != testAppKey {
		t.Errorf("DD-APPLICATION-KEY header = %q, want the configured application key", got)
		http.Error(w, `{"errors":["Forbidden"]}`, http.StatusForbidden)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("request body %s: %v", body, err)
		http.Error(w, `{"errors":["bad json"]}`, http.StatusBadRequest)
		return
	}
	a := req.Data.Attributes
	if req.Data.Type != kind+"_request" {
		t.Errorf("data.type = %q, want %q", req.Data.Type, kind+"_request")
	}
	if len(a.Queries) != 1 || len(a.Formulas) != 1 || a.Formulas[0].Formula != a.Queries[0].Name || a.Queries[0].DataSource != "metrics" {
		t.Errorf("request %s: want one metrics query and one formula naming it", body)
		http.Error(w, `{"errors":["bad request"]}`, http.StatusBadRequest)
		return
	}
	if kind == "scalar" && a.Queries[0].Aggregator == "" {
		t.Errorf("scalar request without an aggregator: %s", body)
	}
	if kind == "timeseries" && (a.Interval == nil || *a.Interval <= 0) {
		t.Errorf("timeseries request without an interval: %s", body)
	}
	s.mu.Lock()
	from, to, anyWindow := s.from, s.to, s.anyWindow
	q := a.Queries[0].Query
	s.counts[q]++
	n := s.counts[q]
	ans, ok := s.answers[q]
	s.mu.Unlock()
	if !anyWindow && (a.From != from || a.To != to) {
		t.Errorf("%s window [%d, %d], want exactly [%d, %d] (%v wide)", kind, a.From, a.To, from, to, time.Duration(to-from)*time.Millisecond)
		http.Error(w, `{"errors":["wrong window"]}`, http.StatusBadRequest)
		return
	}
	if !ok {
		t.Errorf("no answer scripted for query %q", q)
		http.Error(w, `{"errors":["unknown query"]}`, http.StatusBadRequest)
		return
	}
	ans(t, w, r, kind, req, n)
}

func (s *server) count(query string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[query]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// scalarBody is the documented shape of a v2 scalar answer: one group
// column per tag group key and one number column per formula; a nil in
// values is a JSON null.
func scalarBody(groups []string, values ...*float64) map[string]any {
	columns := []any{}
	if groups != nil {
		rows := make([][]string, len(groups))
		for i, g := range groups {
			rows[i] = []string{g}
		}
		columns = append(columns, map[string]any{"name": "service", "type": "group", "values": rows})
	}
	if values == nil {
		values = []*float64{}
	}
	columns = append(columns, map[string]any{
		"name": "a", "type": "number", "values": values,
		"meta": map[string]any{"unit": []any{nil}},
	})
	return map[string]any{"data": map[string]any{
		"type":       "scalar_response",
		"attributes": map[string]any{"columns": columns},
	}}
}

// timeseriesBody is the documented shape of a v2 timeseries answer: bucket
// start times in epoch ms, and one row of values per series.
func timeseriesBody(times []int64, series ...[]*float64) map[string]any {
	meta := make([]any, len(series))
	for i := range series {
		meta[i] = map[string]any{"group_tags": []string{}, "query_index": 0, "unit": []any{nil}}
	}
	if series == nil {
		series = [][]*float64{}
	}
	if times == nil {
		times = []int64{}
	}
	return map[string]any{"data": map[string]any{
		"type": "timeseries_response",
		"attributes": map[string]any{
			"series": meta,
			"times":  times,
			"values": series,
		},
	}}
}

func f(v float64) *float64 { return &v }

// buckets returns the start times of the interval-wide buckets, aligned to
// the interval as Datadog aligns them, that overlap [from, to].
func buckets(from, to, interval int64) []int64 {
	var ts []int64
	for t := from - from%interval; t < to; t += interval {
		ts = append(ts, t)
	}
	return ts
}

// valueAnswer answers a scalar request with v and a timeseries request with
// one series whose first and last buckets are partial: their values
// (first, last) are not the window's and must never be read.
func valueAnswer(v, first, last float64, complete ...float64) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
		a := req.Data.Attributes
		if kind == "scalar" {
			writeJSON(w, http.StatusOK, scalarBody(nil, f(v)))
			return
		}
		ts := buckets(a.From, a.To, *a.Interval)
		if len(ts) != len(complete)+2 {
			t.Errorf("test set-up: %d buckets for %d complete values", len(ts), len(complete))
		}
		vals := []*float64{f(first)}
		for _, c := range complete {
			vals = append(vals, f(c))
		}
		vals = append(vals, f(last))
		writeJSON(w, http.StatusOK, timeseriesBody(ts, vals))
	}
}

// steadyAnswer answers v for any window: the scalar value, and every
// complete timeseries bucket; a partial bucket at either end is 1000, which
// must never be read.
func steadyAnswer(v float64) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
		a := req.Data.Attributes
		if kind == "scalar" {
			writeJSON(w, http.StatusOK, scalarBody(nil, f(v)))
			return
		}
		ts := buckets(a.From, a.To, *a.Interval)
		vals := make([]*float64, len(ts))
		for i, b := range ts {
			if b < a.From || b+*a.Interval > a.To {
				vals[i] = f(1000)
			} else {
				vals[i] = f(v)
			}
		}
		writeJSON(w, http.StatusOK, timeseriesBody(ts, vals))
	}
}

func emptyAnswer(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, _ request, _ int) {
	if kind == "scalar" {
		writeJSON(w, http.StatusOK, scalarBody(nil))
		return
	}
	writeJSON(w, http.StatusOK, timeseriesBody(nil))
}

// nullAnswer is Datadog's answer for 0/0 and for a window with no points:
// null, which is no data, not zero.
func nullAnswer(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, req request, _ int) {
	if kind == "scalar" {
		writeJSON(w, http.StatusOK, scalarBody(nil, nil))
		return
	}
	a := req.Data.Attributes
	ts := buckets(a.From, a.To, *a.Interval)
	writeJSON(w, http.StatusOK, timeseriesBody(ts, make([]*float64, len(ts))))
}

func errorAnswer(status int, messages ...string) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, _ string, _ request, _ int) {
		writeJSON(w, status, map[string]any{"errors": messages})
	}
}

func slowAnswer(t *testing.T, w http.ResponseWriter, r *http.Request, _ string, _ request, _ int) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
	writeJSON(w, http.StatusOK, scalarBody(nil, f(1)))
}

// rateLimited answers 429 with Datadog's rate-limit headers for the first
// limited requests, then v.
func rateLimited(limited int, reset string, v float64) answer {
	return func(t *testing.T, w http.ResponseWriter, _ *http.Request, kind string, _ request, n int) {
		if n <= limited {
			w.Header().Set("X-RateLimit-Limit", "100")
			w.Header().Set("X-RateLimit-Period", "60")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", reset)
			w.Header().Set("X-RateLimit-Name", "query_scalar")
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"errors": []string{"Too many requests"}})
			return
		}
		writeJSON(w, http.StatusOK, scalarBody(nil, f(v)))
	}
}
