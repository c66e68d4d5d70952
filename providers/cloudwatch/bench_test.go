package cloudwatch_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/fxamacker/cbor/v2"

	"github.com/meshcanary/canary/providers/cloudwatch"
)

// benchServer answers every request with the same GetMetricData answer in
// RPC v2 CBOR: the value and the count for the window 09:55 to 10:00.
func benchServer(b *testing.B) *httptest.Server {
	start := epoch{time.Date(2026, 11, 28, 9, 55, 0, 0, time.UTC)}
	answer, err := cbor.Marshal(getMetricDataOutput{MetricDataResults: []dataResult{
		{Id: "count", Label: "count", Timestamps: []epoch{start}, Values: []float64{500}, StatusCode: "Complete"},
		{Id: "value", Label: "value", Timestamps: []epoch{start}, Values: []float64{0.02}, StatusCode: "Complete"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		_, _ = w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkQuery is one Provider.Query of the Lattice 5xx-rate template
// (three metric data queries, metric math) through the AWS SDK: JSON
// parsing of the query, SigV4 signing, the retry middleware, CBOR both
// ways, and picking the complete period out of the answer.
func BenchmarkQuery(b *testing.B) {
	srv := benchServer(b)
	p, err := cloudwatch.New(context.Background(), cloudwatch.Config{AWS: &aws.Config{
		Region:       "eu-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testToken),
		BaseEndpoint: aws.String(srv.URL),
	}})
	if err != nil {
		b.Fatal(err)
	}
	q := query(render(b, latticeQueries(b).ErrorRate, "tg-canary"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		r, err := p.Query(ctx, q)
		if err != nil || r.Value != 0.02 || r.Count != 500 {
			b.Fatalf("(%+v, %v)", r, err)
		}
	}
}

// BenchmarkRawRequest is the same request and answer with net/http and
// fxamacker/cbor only, unsigned: the baseline the provider's overhead is
// measured from.
func BenchmarkRawRequest(b *testing.B) {
	srv := benchServer(b)
	client := &http.Client{}
	dims := []dimension{{"TargetGroup", "tg-canary"}}
	f, t := false, true
	in := getMetricDataInput{
		MetricDataQueries: []dataQuery{
			{Id: "errors", MetricStat: &metricStat{Metric: metric{"AWS/VpcLattice", "HTTPCode_5XX_Count", dims}, Period: 300, Stat: "Sum"}, ReturnData: &f},
			{Id: "count", MetricStat: &metricStat{Metric: metric{"AWS/VpcLattice", "TotalRequestCount", dims}, Period: 300, Stat: "Sum"}, ReturnData: &t},
			{Id: "value", Expression: aws.String("FILL(errors, 0) / count"), ReturnData: &t, Period: aws.Int32(300)},
		},
		StartTime: epoch{time.Date(2026, 11, 28, 9, 55, 0, 0, time.UTC)},
		EndTime:   epoch{time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
		ScanBy:    "TimestampDescending",
	}
	b.ReportAllocs()
	for b.Loop() {
		body, err := cbor.Marshal(in)
		if err != nil {
			b.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, srv.URL+cborPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/cbor")
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		var out getMetricDataOutput
		if err := cbor.Unmarshal(raw, &out); err != nil || len(out.MetricDataResults) != 2 || out.MetricDataResults[1].Values[0] != 0.02 {
			b.Fatalf("(%+v, %v)", out, err)
		}
	}
}
