package datadog_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/datadog"
)

// A canary's error rate from Datadog. The local server stands in for the
// v2 scalar API; a real provider leaves BaseURL empty and picks the Site.
func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"type":"scalar_response","attributes":{"columns":[`+
			`{"name":"a","type":"number","values":[0.0125],"meta":{"unit":null}}]}}}`)
	}))
	defer api.Close()

	p, err := datadog.New(datadog.Config{
		APIKey:     "example-api-key",
		AppKey:     "example-application-key",
		Site:       datadog.SiteEU1,
		BaseURL:    api.URL,
		Aggregator: "sum",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	tmpl := metrics.MustParse(metrics.Datadog, "error-rate",
		"sum:trace.http.request.errors{service:{{service}},version:{{version}}}.as_count() / "+
			"sum:trace.http.request.hits{service:{{service}},version:{{version}}}.as_count()")
	text, err := datadog.Render(tmpl, metrics.Vars{Service: "checkout", Version: "v2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(text)
	r, err := p.Query(context.Background(), metrics.Query{
		Text: text, Window: 5 * time.Minute, End: time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("error rate %.4f\n", r.Value)

	_, err = datadog.Render(tmpl, metrics.Vars{Service: "checkout} or sum:other{*", Version: "v2"})
	fmt.Println(err != nil)
	// Output:
	// sum:trace.http.request.errors{service:checkout,version:v2}.as_count() / sum:trace.http.request.hits{service:checkout,version:v2}.as_count()
	// error rate 0.0125
	// true
}
