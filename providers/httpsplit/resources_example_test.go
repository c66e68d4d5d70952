package httpsplit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/httpsplit"
)

// A back end serves its own resource use at httpsplit.ResourcePath next to
// its traffic; a ResourceMonitor samples it and answers "cpu canary",
// "memory canary", "restarts canary" and "replicas canary", which the
// proxy cannot measure for another process. Here the back end's report is
// scripted (a real one passes nil, for SelfUsage) and the clock is manual.
func ExampleResourceMonitor() {
	cpu := 0.0
	backend := http.NewServeMux()
	backend.Handle(httpsplit.ResourcePath, httpsplit.ResourceHandler(func() httpsplit.Usage {
		return httpsplit.Usage{CPUSeconds: cpu, MemoryBytes: 64 << 20, Started: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)}
	}))
	srv := httptest.NewServer(backend)
	defer srv.Close()

	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	mon, err := httpsplit.NewResourceMonitor(httpsplit.ResourceMonitorConfig{
		Canary: []string{srv.URL + httpsplit.ResourcePath},
		Now:    func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for range 3 { // three samples, 10 s apart, using 1.5 cores
		if err := mon.Sample(ctx); err != nil {
			fmt.Println(err)
			return
		}
		now, cpu = now.Add(10*time.Second), cpu+15
	}
	for _, q := range []string{"cpu canary", "memory canary", "replicas canary"} {
		r, err := mon.Query(ctx, metrics.Query{Text: q, Window: time.Minute, End: now})
		fmt.Println(q, r.Value, err)
	}
	// Output:
	// cpu canary 1.5 <nil>
	// memory canary 6.7108864e+07 <nil>
	// replicas canary 1 <nil>
}
