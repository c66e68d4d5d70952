package prometheus_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/prometheus"
)

// A canary's error rate from Istio's metrics. The server here is a stand-in
// answering Prometheus's documented JSON API, so that the output is fixed;
// point Address at a real Prometheus instead.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		value := "0.0125"
		if strings.Contains(r.Form.Get("query"), "increase(") {
			value = "2400" // the request count
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%s,"%s"]}]}}`,
			r.Form.Get("time"), value)
	}))
	defer srv.Close()

	p, err := prometheus.New(prometheus.Config{Address: srv.URL, BearerToken: "secret-token", Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	istio, err := prometheus.IstioQueries(prometheus.IstioLabels{})
	if err != nil {
		fmt.Println(err)
		return
	}
	vars := metrics.Vars{Namespace: "shop", Workload: "cart", Version: "v2", Window: 2 * time.Minute}
	text, err := istio.ErrorRate.Render(vars)
	if err != nil {
		fmt.Println(err)
		return
	}
	counted, err := p.WithCount(istio.RequestCount, vars)
	if err != nil {
		fmt.Println(err)
		return
	}
	end := time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)
	r, err := counted.Query(context.Background(), metrics.Query{Text: text, Window: vars.Window, End: end})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("error rate %.2f%% over %d requests\n", 100*r.Value, r.Count)

	// A hostile label value is refused before any request is sent.
	vars.Workload = `cart"} or vector(0) or {x="`
	_, err = istio.ErrorRate.Render(vars)
	fmt.Println(err != nil)
	// Output:
	// error rate 1.25% over 2400 requests
	// true
}
