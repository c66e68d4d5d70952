package newrelic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/meshcanary/canary/providers/newrelic"
)

const benchAnswer = `{"data":{"actor":{"account":{"nrql":{"results":[{"value":1.25,"count":800}],` +
	`"metadata":{"eventTypes":["Transaction"],"facets":null,"messages":[],"timeWindow":{"begin":0,"end":0}}}}}}}`

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchAnswer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkQuery is one Provider.Query through newrelic-client-go against a
// local server.
func BenchmarkQuery(b *testing.B) {
	srv := benchServer(b)
	p, err := newrelic.New(newrelic.Config{APIKey: testKey, AccountID: testAccount, BaseURL: srv.URL + "/graphql"})
	if err != nil {
		b.Fatal(err)
	}
	query := q(errorRate)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Query(ctx, query)
		if err != nil || r.Value != 1.25 {
			b.Fatalf("(%+v, %v)", r, err)
		}
	}
}

// BenchmarkRawHTTP is the same GraphQL request and answer with net/http and
// encoding/json only: the baseline the adapter's overhead is measured from.
func BenchmarkRawHTTP(b *testing.B) {
	srv := benchServer(b)
	client := &http.Client{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		body, _ := json.Marshal(map[string]any{
			"query":     "query($query: Nrql!, $accountId: Int!) { actor { account(id: $accountId) { nrql(query: $query) { results } } } }",
			"variables": map[string]any{"accountId": testAccount, "query": errorRate + " SINCE 1773480293250 UNTIL 1773480413250"},
		})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Api-Key", testKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var out struct {
			Data struct {
				Actor struct {
					Account struct {
						NRQL struct {
							Results []map[string]any `json:"results"`
						} `json:"nrql"`
					} `json:"account"`
				} `json:"actor"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || out.Data.Actor.Account.NRQL.Results[0]["value"] != 1.25 {
			b.Fatalf("%v %+v", err, out)
		}
	}
}
