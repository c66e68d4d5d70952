package datadog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/meshcanary/canary/providers/datadog"
)

const benchAnswer = `{"data":{"type":"scalar_response","attributes":{"columns":[` +
	`{"name":"a","type":"number","values":[0.42],"meta":{"unit":null}}]}}}`

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkQuery is one Provider.Query (scalar API only) through
// datadog-api-client-go against a local server.
func BenchmarkQuery(b *testing.B) {
	srv := benchServer(b)
	p, err := datadog.New(datadog.Config{APIKey: testAPIKey, AppKey: testAppKey, BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	query := q("sum:requests.error{service:web,version:v2}")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Query(ctx, query)
		if err != nil || r.Value != 0.42 {
			b.Fatalf("(%+v, %v)", r, err)
		}
	}
}

// BenchmarkRawHTTP is the same scalar request and answer with net/http and
// encoding/json only: the baseline the adapter's overhead is measured from.
func BenchmarkRawHTTP(b *testing.B) {
	srv := benchServer(b)
	client := &http.Client{}
	ctx := context.Background()
	to := testEnd.UnixMilli()
	b.ReportAllocs()
	for b.Loop() {
		body, _ := json.Marshal(map[string]any{"data": map[string]any{
			"type": "scalar_request",
			"attributes": map[string]any{
				"from": to - testWindow.Milliseconds(), "to": to,
				"queries":  []any{map[string]any{"data_source": "metrics", "name": "a", "aggregator": "avg", "query": "sum:requests.error{service:web,version:v2}"}},
				"formulas": []any{map[string]any{"formula": "a"}},
			},
		}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/api/v2/query/scalar", bytes.NewReader(body))
		req.Header.Set("DD-API-KEY", testAPIKey)
		req.Header.Set("DD-APPLICATION-KEY", testAppKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Data struct {
				Attributes struct {
					Columns []struct {
						Type   string     `json:"type"`
						Values []*float64 `json:"values"`
					} `json:"columns"`
				} `json:"attributes"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || len(out.Data.Attributes.Columns) != 1 || *out.Data.Attributes.Columns[0].Values[0] != 0.42 {
			b.Fatalf("%v %+v", err, out)
		}
	}
}
