package cloudwatch_test

// A local CloudWatch answering GetMetricData as the documented API does,
// in the two protocols the SDK in use (service/cloudwatch v1.76) can speak:
//
//   - Smithy RPC v2 CBOR, the SDK's default since v1.53.0 (2025-12-10):
//     POST /service/GraniteServiceVersion20100801/operation/GetMetricData,
//     Smithy-Protocol: rpc-v2-cbor, application/cbor bodies, timestamps as
//     CBOR tag 1 (epoch seconds), errors as a map with "__type" and
//     "message" (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html);
//   - AWS JSON 1.1: POST /, X-Amz-Target:
//     GraniteServiceVersion20100801.GetMetricData, timestamps as epoch
//     seconds, errors with "__type".
//
// Both carry X-Amzn-Query-Mode: true (CloudWatch is query-compatible), so
// an error may also name its legacy query code in X-Amzn-Query-Error
// ("Throttling;Sender"). The bodies are encoded and decoded with
// github.com/fxamacker/cbor and encoding/json, not with the SDK's codec.

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
)

const target = "GraniteServiceVersion20100801.GetMetricData"
const cborPath = "/service/GraniteServiceVersion20100801/operation/GetMetricData"

// epoch is a timestamp as both protocols write it.
type epoch struct{ time.Time }

func (e *epoch) UnmarshalCBOR(b []byte) error {
	var t time.Time
	if err := cbor.Unmarshal(b, &t); err != nil {
		return err
	}
	e.Time = t.UTC()
	return nil
}

func (e *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	e.Time = time.UnixMilli(int64(math.Round(f * 1000))).UTC()
	return nil
}

func (e epoch) MarshalCBOR() ([]byte, error) {
	b := []byte{0xc1, 0xfb} // tag 1, float64
	return binary.BigEndian.AppendUint64(b, math.Float64bits(float64(e.UnixMilli())/1000)), nil
}

func (e epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(e.UnixMilli())/1000, 'f', -1, 64)), nil
}

type dimension struct{ Name, Value string }

type metric struct {
	Namespace, MetricName string
	Dimensions            []dimension
}

type metricStat struct {
	Metric metric
	Period int32
	Stat   string
	Unit   string `json:",omitempty"`
}

type dataQuery struct {
	Id         string
	MetricStat *metricStat
	Expression *string
	Label      *string
	ReturnData *bool
	Period     *int32
}

type getMetricDataInput struct {
	MetricDataQueries []dataQuery
	StartTime         epoch
	EndTime           epoch
	ScanBy            string
	NextToken         *string
}

type message struct{ Code, Value string }

type dataResult struct {
	Id         string
	Label      string
	Timestamps []epoch
	Values     []float64
	StatusCode string
	Messages   []message `json:",omitempty" cbor:",omitempty"`
}

type getMetricDataOutput struct {
	MetricDataResults []dataResult
	NextToken         *string   `json:",omitempty" cbor:",omitempty"`
	Messages          []message `json:",omitempty" cbor:",omitempty"`
}

// point is one published datapoint: count samples adding up to sum.
type point struct {
	t          time.Time
	sum, count float64
	min, max   float64
}

// fakeCloudWatch (built with a nil t outside tests, then closed by the
// caller) is an in-memory CloudWatch: published datapoints per
// metric, GetMetricData's statistics (Sum, Average, SampleCount, Minimum,
// Maximum) over any period, and metric math with + - * / and parentheses.
// Namespaces starting "Test/" change its behaviour: Test/Slow never
// answers before the request is cancelled, Test/Invalid answers
// InvalidParameterValue, Test/Partial answers PartialData, Test/Denied
// answers AccessDenied.
type fakeCloudWatch struct {
	t      testing.TB
	server *httptest.Server
	mu     sync.Mutex
	series map[string][]point
	// units holds the unit a series was published with (setUnit); a
	// MetricStat that names another unit reads no datapoints of it, as
	// CloudWatch answers.
	units map[string]string
	// throttle is how many requests to answer with a throttling error
	// before answering normally; throttleCode is the error's code.
	throttle     int
	throttleCode string
	requests     []getMetricDataInput
	headers      []http.Header
}

func newFakeCloudWatch(t testing.TB) *fakeCloudWatch {
	f := &fakeCloudWatch{t: t, series: map[string][]point{}, units: map[string]string{}, throttleCode: "ThrottlingException"}
	f.server = httptest.NewServer(http.HandlerFunc(f.serve))
	if t != nil {
		t.Cleanup(f.server.Close)
	}
	return f
}

func seriesKey(namespace, name string, dims []dimension) string {
	ds := make([]string, len(dims))
	for i, d := range dims {
		ds[i] = d.Name + "=" + d.Value
	}
	sort.Strings(ds)
	return namespace + "|" + name + "|" + strings.Join(ds, ",")
}

// put publishes one datapoint of count samples adding up to sum.
func (f *fakeCloudWatch) put(namespace, name string, dims []dimension, t time.Time, sum, count float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := seriesKey(namespace, name, dims)
	mean := sum / count
	f.series[k] = append(f.series[k], point{t: t, sum: sum, count: count, min: mean, max: mean})
}

// setUnit says the series was published in unit ("Milliseconds").
func (f *fakeCloudWatch) setUnit(namespace, name string, dims []dimension, unit string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.units[seriesKey(namespace, name, dims)] = unit
}

func (f *fakeCloudWatch) requestLog() []getMetricDataInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]getMetricDataInput(nil), f.requests...)
}

func (f *fakeCloudWatch) serve(w http.ResponseWriter, r *http.Request) {
	jsonProto := r.Header.Get("X-Amz-Target") != ""
	switch {
	case r.Method != http.MethodPost:
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	case jsonProto && (r.Header.Get("X-Amz-Target") != target || r.Header.Get("Content-Type") != "application/x-amz-json-1.1"):
		f.fail(w, jsonProto, 400, "UnknownOperationException", "", "unknown target "+r.Header.Get("X-Amz-Target"))
		return
	case !jsonProto && (r.URL.Path != cborPath || r.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.Header.Get("Content-Type") != "application/cbor"):
		f.fail(w, jsonProto, 400, "UnknownOperationException", "", "not an rpc-v2-cbor GetMetricData request: "+r.URL.Path)
		return
	case !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="):
		f.fail(w, jsonProto, 403, "MissingAuthenticationToken", "MissingAuthenticationToken;Sender", "request is not signed")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var in getMetricDataInput
	if jsonProto {
		err = json.Unmarshal(body, &in)
	} else {
		err = cbor.Unmarshal(body, &in)
	}
	if err != nil {
		f.fail(w, jsonProto, 400, "SerializationException", "", err.Error())
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, in)
	f.headers = append(f.headers, r.Header.Clone())
	throttled := f.throttle > 0
	if throttled {
		f.throttle--
	}
	f.mu.Unlock()
	if throttled {
		f.fail(w, jsonProto, 400, f.throttleCode, "Throttling;Sender", "Rate exceeded")
		return
	}
	for _, q := range in.MetricDataQueries {
		if q.MetricStat == nil {
			continue
		}
		switch q.MetricStat.Metric.Namespace {
		case "Test/Slow":
			<-r.Context().Done()
			return
		case "Test/Invalid":
			f.fail(w, jsonProto, 400, "com.amazonaws.cloudwatch#InvalidParameterValueException", "InvalidParameterValue;Sender", "The parameter Stat is invalid")
			return
		case "Test/Denied":
			f.fail(w, jsonProto, 403, "AccessDeniedException", "AccessDenied;Sender",
				"User: arn:aws:sts::111122223333:assumed-role/canary/session is not authorized to perform: cloudwatch:GetMetricData")
			return
		}
	}
	out, err := f.answer(in)
	if err != nil {
		f.fail(w, jsonProto, 400, "InvalidParameterValueException", "InvalidParameterValue;Sender", err.Error())
		return
	}
	f.write(w, jsonProto, 200, out)
}

func (f *fakeCloudWatch) write(w http.ResponseWriter, jsonProto bool, status int, v any) {
	var b []byte
	var err error
	if jsonProto {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		b, err = json.Marshal(v)
	} else {
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
		b, err = cbor.Marshal(v)
	}
	if err != nil {
		if f.t != nil {
			f.t.Errorf("encoding the answer: %v", err)
		}
		status, b = 500, nil
	}
	w.Header().Set("X-Amzn-Requestid", "00000000-0000-0000-0000-000000000001")
	w.WriteHeader(status)
	w.Write(b)
}

func (f *fakeCloudWatch) fail(w http.ResponseWriter, jsonProto bool, status int, typ, queryError, msg string) {
	if queryError != "" {
		w.Header().Set("X-Amzn-Query-Error", queryError)
	}
	f.write(w, jsonProto, status, map[string]string{"__type": typ, "message": msg})
}

// answer evaluates every query for each period from StartTime on.
func (f *fakeCloudWatch) answer(in getMetricDataInput) (getMetricDataOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byID := map[string]map[time.Time]float64{}
	var out getMetricDataOutput
	start, end := in.StartTime.Time, in.EndTime.Time
	var exprs []dataQuery
	for _, q := range in.MetricDataQueries {
		if q.MetricStat == nil {
			exprs = append(exprs, q)
			continue
		}
		ms := q.MetricStat
		if ms.Period <= 0 {
			return out, fmt.Errorf("the parameter MetricStat.Period must be positive")
		}
		p := time.Duration(ms.Period) * time.Second
		key := seriesKey(ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions)
		pts := f.series[key]
		if u := f.units[key]; ms.Unit != "" && u != "" && u != ms.Unit {
			pts = nil // published in another unit
		}
		vals := map[time.Time]float64{}
		// Like CloudWatch, the last period may run past EndTime (partial).
		for t := start; t.Before(end); t = t.Add(p) {
			var sum, n float64
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, pt := range pts {
				if !pt.t.Before(t) && pt.t.Before(t.Add(p)) {
					sum += pt.sum
					n += pt.count
					lo, hi = math.Min(lo, pt.min), math.Max(hi, pt.max)
				}
			}
			if n == 0 {
				continue
			}
			switch ms.Stat {
			case "Sum":
				vals[t] = sum
			case "Average":
				vals[t] = sum / n
			case "SampleCount":
				vals[t] = n
			case "Minimum":
				vals[t] = lo
			case "Maximum":
				vals[t] = hi
			default:
				return out, fmt.Errorf("the parameter MetricStat.Stat %q is not supported by the fake", ms.Stat)
			}
		}
		byID[q.Id] = vals
	}
	for _, q := range exprs {
		vals := map[time.Time]float64{}
		ts := map[time.Time]bool{}
		for _, m := range byID {
			for t := range m {
				ts[t] = true
			}
		}
		for t := range ts {
			v, ok, err := evalExpr(*q.Expression, func(id string) (float64, bool) {
				m, found := byID[id]
				if !found {
					return 0, false
				}
				x, ok := m[t]
				return x, ok
			})
			if err != nil {
				return out, err
			}
			if ok {
				vals[t] = v
			}
		}
		byID[q.Id] = vals
	}
	for _, q := range in.MetricDataQueries {
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		res := dataResult{Id: q.Id, Label: q.Id, StatusCode: "Complete", Timestamps: []epoch{}, Values: []float64{}}
		if q.MetricStat != nil && q.MetricStat.Metric.Namespace == "Test/Partial" {
			res.StatusCode = "PartialData"
			out.NextToken = new("next-page")
		}
		var ts []time.Time
		for t := range byID[q.Id] {
			ts = append(ts, t)
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].After(ts[j]) }) // TimestampDescending
		for _, t := range ts {
			res.Timestamps = append(res.Timestamps, epoch{t})
			res.Values = append(res.Values, byID[q.Id][t])
		}
		out.MetricDataResults = append(out.MetricDataResults, res)
	}
	return out, nil
}

// evalExpr evaluates metric math with + - * /, parentheses, numbers and
// query ids; ok is false when an id has no datapoint.
func evalExpr(s string, lookup func(string) (float64, bool)) (float64, bool, error) {
	p := &exprParser{s: strings.ReplaceAll(s, " ", ""), lookup: lookup, ok: true}
	v := p.sum()
	if p.err == nil && p.i != len(p.s) {
		p.err = fmt.Errorf("metric math: unexpected %q in %q", p.s[p.i:], s)
	}
	return v, p.ok, p.err
}

type exprParser struct {
	s      string
	i      int
	lookup func(string) (float64, bool)
	ok     bool
	err    error
}

func (p *exprParser) sum() float64 {
	v := p.product()
	for p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
		op := p.s[p.i]
		p.i++
		r := p.product()
		if op == '+' {
			v += r
		} else {
			v -= r
		}
	}
	return v
}

func (p *exprParser) product() float64 {
	v := p.atom()
	for p.i < len(p.s) && (p.s[p.i] == '*' || p.s[p.i] == '/') {
		op := p.s[p.i]
		p.i++
		r := p.atom()
		if op == '*' {
			v *= r
		} else {
			v /= r
		}
	}
	return v
}

func (p *exprParser) atom() float64 {
	if p.i >= len(p.s) {
		p.err = fmt.Errorf("metric math: unexpected end of %q", p.s)
		return 0
	}
	if p.s[p.i] == '(' {
		p.i++
		v := p.sum()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			p.err = fmt.Errorf("metric math: missing ) in %q", p.s)
		}
		p.i++
		return v
	}
	j := p.i
	for j < len(p.s) && strings.IndexByte("+-*/(),", p.s[j]) < 0 {
		j++
	}
	tok := p.s[p.i:j]
	p.i = j
	if tok == "FILL" && p.i < len(p.s) && p.s[p.i] == '(' {
		// FILL(id, constant): the constant where id has no datapoint.
		k := strings.IndexByte(p.s[p.i:], ')')
		args := strings.Split(p.s[p.i+1:p.i+max(k, 1)], ",")
		if k < 0 || len(args) != 2 {
			p.err = fmt.Errorf("metric math: FILL needs (id, constant) in %q", p.s)
			return 0
		}
		p.i += k + 1
		fill, err := strconv.ParseFloat(args[1], 64)
		if err != nil {
			p.err = err
			return 0
		}
		if v, ok := p.lookup(args[0]); ok {
			return v
		}
		return fill
	}
	if f, err := strconv.ParseFloat(tok, 64); err == nil {
		return f
	}
	v, ok := p.lookup(tok)
	if !ok {
		p.ok = false
	}
	return v
}
