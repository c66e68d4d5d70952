package cloudwatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// An expression that answers several series (SEARCH) gives several results
// with the value's id: each is a series, so the Source refuses them with
// ErrSeveralSeries instead of reading one of them.
func TestSeveralResultsAreSeveralSeries(t *testing.T) {
	start := time.Date(2026, 11, 28, 9, 55, 0, 0, time.UTC)
	end := start.Add(5 * time.Minute)
	result := func(label string, v float64) types.MetricDataResult {
		return types.MetricDataResult{Id: aws.String("value"), Label: aws.String(label), StatusCode: types.StatusCodeComplete,
			Timestamps: []time.Time{start}, Values: []float64{v}}
	}
	out := &cloudwatch.GetMetricDataOutput{MetricDataResults: []types.MetricDataResult{result("tg-a", 1), result("tg-b", 2)}}
	spec := querySpec{value: "value"}
	series, err := read(out, spec, start, end)
	if err != nil || len(series) != 2 || series[0].Labels != "{tg-a}" || series[1].Labels != "{tg-b}" {
		t.Fatalf("read = %v, %v; want the two series {tg-a} and {tg-b}", series, err)
	}
	src := metrics.NewSource(driverFunc(func() ([]metrics.Series, error) { return read(out, spec, start, end) }), metrics.Config{Name: "cloudwatch"})
	if _, err := src.Query(t.Context(), metrics.Query{Text: "q", Window: 5 * time.Minute, End: end}); !errors.Is(err, metrics.ErrSeveralSeries) {
		t.Errorf("Query = %v, want metrics.ErrSeveralSeries", err)
	}
	ranged, err := readRange(out, spec, start, end, 5*time.Minute)
	if err != nil || len(ranged) != 2 {
		t.Errorf("readRange = %v, %v; want two series", ranged, err)
	}
	one := &cloudwatch.GetMetricDataOutput{MetricDataResults: []types.MetricDataResult{result("tg-a", 1)}}
	if series, err := read(one, spec, start, end); err != nil || len(series) != 1 || series[0].Result.Value != 1 {
		t.Errorf("read of one result = %v, %v; want its value 1", series, err)
	}
}

// driverFunc is a Driver answering every instant query with f.
type driverFunc func() ([]metrics.Series, error)

func (f driverFunc) Instant(context.Context, metrics.Query) ([]metrics.Series, error) { return f() }
func (f driverFunc) ErrorCode(error) canary.ErrorCode                                 { return canary.Unknown }
