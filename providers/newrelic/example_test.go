package newrelic_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/newrelic"
)

// A canary's error rate from New Relic. The local server stands in for
// NerdGraph; a real provider leaves BaseURL empty and picks the Region.
func Example() {
	nerdGraph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"actor":{"account":{"nrql":{"results":[{"value":1.25,"count":800}]}}}}}`)
	}))
	defer nerdGraph.Close()

	p, err := newrelic.New(newrelic.Config{
		APIKey:    "NRAK-EXAMPLE",
		AccountID: 1234567,
		Region:    newrelic.RegionEU,
		BaseURL:   nerdGraph.URL + "/graphql",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tmpl := metrics.MustParse(metrics.NRQL, "error-rate",
		"SELECT percentage(count(*), WHERE error IS true) AS 'value', count(*) AS 'count' "+
			"FROM Transaction WHERE appName = '{{service}}' AND version = '{{version}}'")
	text, err := newrelic.Render(tmpl, metrics.Vars{Service: "checkout", Version: "v2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	q := metrics.Query{Text: text, Window: 5 * time.Minute, End: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)}
	nrql, _ := p.NRQL(q)
	fmt.Println(nrql)

	r, err := p.Query(context.Background(), q)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("error rate %.2f%% over %d requests\n", r.Value, r.Count)

	_, err = newrelic.Render(tmpl, metrics.Vars{Service: "checkout' OR appName LIKE '%", Version: "v2"})
	fmt.Println(err != nil)
	// Output:
	// SELECT percentage(count(*), WHERE error IS true) AS 'value', count(*) AS 'count' FROM Transaction WHERE appName = 'checkout' AND version = 'v2' SINCE 1773480300000 UNTIL 1773480600000
	// error rate 1.25% over 800 requests
	// true
}
