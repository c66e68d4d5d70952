package cloudwatch_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/meshcanary/canary/metrics"
	"github.com/meshcanary/canary/providers/cloudwatch"
)

// The 5xx rate of a VPC Lattice target group over the five complete
// minutes before the analysis instant. In production leave Config.AWS nil:
// the SDK's default chain finds the region and the credentials.
func Example() {
	local := newFakeCloudWatch(nil) // a local CloudWatch for the example
	defer local.server.Close()
	publish(local, "tg-0a1b2c3d", 100, 2, 0, 40)

	p, err := cloudwatch.New(context.Background(), cloudwatch.Config{AWS: &aws.Config{
		Region:       "eu-west-2",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "example-secret", ""),
		BaseEndpoint: aws.String(local.server.URL),
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	q, err := cloudwatch.LatticeQueries(cloudwatch.LatticeNames{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Each version's Workload.Version is its target group's id.
	text, err := q.ErrorRate.Render(metrics.Vars{Version: "tg-0a1b2c3d"})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := p.Query(context.Background(), metrics.Query{
		Text:   text,
		Window: 5 * time.Minute,
		End:    time.Date(2026, 11, 28, 10, 0, 30, 0, time.UTC),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("5xx rate %.3f over %d requests\n", r.Value, r.Count)

	_, err = p.Query(context.Background(), metrics.Query{Text: text, Window: 30 * time.Second, End: time.Now()})
	fmt.Println(err)
	// Output:
	// 5xx rate 0.020 over 500 requests
	// invalid Query.Window (30s): is shorter than the metric's period of 1m0s: CloudWatch aggregates datapoints per period, so a shorter window could only read a partial period
}
