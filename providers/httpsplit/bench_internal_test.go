package httpsplit

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/meshcanary/canary/metrics"
)

// BenchmarkQuery: one query over a full window, every second of which has
// 100 requests of the version (so 60 000 over the default 10 min).
func BenchmarkQuery(b *testing.B) {
	end := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	u := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	p, err := New(Config{Stable: u, Canary: u})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	s := p.series[canaryVersion]
	for i := 1; i <= 60_000; i++ {
		at := end.Add(-DefaultRetention + time.Duration(i)*10*time.Millisecond)
		s.add(at, time.Duration(500+i%5000)*time.Microsecond, i%100 == 0)
	}
	for _, c := range []struct {
		text   string
		window time.Duration
	}{
		{"error_rate canary", time.Minute},
		{"error_rate canary", DefaultRetention},
		{"latency_p99 canary", time.Minute},
		{"latency_p99 canary", DefaultRetention},
	} {
		b.Run(c.text+"/"+c.window.String(), func(b *testing.B) {
			q := metrics.Query{Text: c.text, Window: c.window, End: end}
			if _, err := p.Query(context.Background(), q); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Query(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRecord: the cost of measuring one request.
func BenchmarkRecord(b *testing.B) {
	s := newSeries(600, DefaultLatencySamples)
	start := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.add(start.Add(time.Duration(i)*time.Millisecond), time.Millisecond, false)
	}
}
