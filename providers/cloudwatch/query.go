package cloudwatch

import (
	"bytes"
	"encoding/json"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/meshcanary/canary"
)

// Query ids with a meaning of their own.
const (
	// ValueID is the id of the query whose datapoint is Result.Value.
	ValueID = "value"
	// CountID is the id of the optional query whose datapoint (a number of
	// requests) is Result.Count.
	CountID = "count"
)

// MaxQueries is GetMetricData's limit on queries in one request.
const MaxQueries = 500

type querySpec struct {
	queries []types.MetricDataQuery
	value   string
	count   string        // "" when there is no count query
	period  time.Duration // the longest MetricStat.Period given, 0 if none
}

// idRE is CloudWatch's rule for a query id: a lower-case letter first,
// then letters, digits and underscores.
var idRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]{0,254}$`)

// parseQuery reads a query's text: a JSON array of GetMetricData
// MetricDataQuery objects, with the API's field names.
func parseQuery(text string) (querySpec, error) {
	bad := func(format string, args ...any) (querySpec, error) {
		return querySpec{}, canary.Invalid("Query.Text", nil, format, args...)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(text)))
	dec.DisallowUnknownFields()
	var qs []types.MetricDataQuery
	if err := dec.Decode(&qs); err != nil {
		return bad("must be a JSON array of MetricDataQuery objects (Id, MetricStat or Expression, Label, ReturnData, Period): %v", err)
	}
	if dec.More() {
		return bad("has text after the JSON array")
	}
	if len(qs) == 0 || len(qs) > MaxQueries {
		return bad("must hold 1 to %d queries, not %d", MaxQueries, len(qs))
	}
	spec := querySpec{queries: qs}
	seen := map[string]bool{}
	var returned []string
	for i, q := range qs {
		id := aws.ToString(q.Id)
		switch {
		case !idRE.MatchString(id):
			return bad("query %d: Id %q must start with a lower-case letter and hold only letters, digits and '_'", i, id)
		case seen[id]:
			return bad("query %d: Id %q is used twice", i, id)
		case (q.MetricStat == nil) == (q.Expression == nil):
			return bad("query %q: must have exactly one of MetricStat and Expression", id)
		case q.Expression != nil && *q.Expression == "":
			return bad("query %q: Expression must not be empty", id)
		}
		seen[id] = true
		if ms := q.MetricStat; ms != nil {
			switch {
			case ms.Metric == nil || aws.ToString(ms.Metric.Namespace) == "" || aws.ToString(ms.Metric.MetricName) == "":
				return bad("query %q: MetricStat.Metric needs a Namespace and a MetricName", id)
			case aws.ToString(ms.Stat) == "":
				return bad("query %q: MetricStat.Stat must be set (Sum, Average, p99…)", id)
			case ms.Period != nil && *ms.Period <= 0:
				return bad("query %q: MetricStat.Period must be positive seconds", id)
			}
			if ms.Period != nil {
				spec.period = max(spec.period, time.Duration(*ms.Period)*time.Second)
			}
		}
		if id == CountID {
			spec.count = id
		} else if q.ReturnData == nil || *q.ReturnData {
			returned = append(returned, id)
		}
	}
	switch {
	case seen[ValueID]:
		spec.value = ValueID
	case len(returned) == 1:
		spec.value = returned[0]
	default:
		return bad("must name the value: give it Id %q, or set ReturnData false on every other query (%d return data)", ValueID, len(returned))
	}
	return spec, nil
}
