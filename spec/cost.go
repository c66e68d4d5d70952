package spec

import (
	"errors"
	"math"
	"strings"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/analysis"
)

// Cost is the cost analyzer ([analysis.Cost]) in a rollout file's
// analysis.analyzers: what each version costs per million requests, from
// prices per vCPU-hour, per GiB-hour and (optionally) per replica-hour, in
// Currency ("£" when empty), judged like any resource: the canary fails on
// evidence that it costs more than (1 + share) × stable's per request.
//
//	analysis:
//	  analyzers:
//	    - cost: {vcpuHour: 0.04, gibHour: 0.005, cpu: cpu, memory: memory,
//	             requests: requests, window: 1m, share: 0.2}
type Cost struct {
	VCPUHour    float64 `json:"vcpuHour,omitempty"`
	GiBHour     float64 `json:"gibHour,omitempty"`
	ReplicaHour float64 `json:"replicaHour,omitempty"`
	Currency    string  `json:"currency,omitempty"`
	// CPU, Memory, Replicas and Requests name metrics of the rollout:
	// each version's cores and memory bytes over the window, its
	// replicas, and the requests it served. CPU is needed with vcpuHour,
	// Memory with gibHour, Replicas with replicaHour.
	CPU      string `json:"cpu,omitempty"`
	Memory   string `json:"memory,omitempty"`
	Replicas string `json:"replicas,omitempty"`
	Requests string `json:"requests"`
	// Window is the window of those metrics' queries (their {{window}});
	// required, as the cost of a window is its price × its length.
	Window Duration `json:"window"`
	// Share: how much more than stable the canary may cost per request;
	// zero means 0.1, a negative value any excess ([analysis.Cost]).
	Share       float64 `json:"share,omitempty"`
	Tolerance   float64 `json:"tolerance,omitempty"`
	Alpha       float64 `json:"alpha,omitempty"`
	Beta        float64 `json:"beta,omitempty"`
	MinRequests int64   `json:"minRequests,omitempty"`
}

// costFields maps analysis.Cost's field names to the file's.
var costFields = map[string]string{
	"Cost.Prices.VCPUHour": "vcpuHour", "Cost.Prices.GiBHour": "gibHour", "Cost.Prices.ReplicaHour": "replicaHour",
	"Cost.Prices": "vcpuHour", "Cost.CPU": "cpu", "Cost.Memory": "memory", "Cost.Replicas": "replicas",
	"Cost.Requests": "requests", "Cost.Window": "window", "Cost.Share": "share",
}

// build returns the analyzer; f is the field's path, metric checks that a
// name is one of the rollout's metrics.
func (c *Cost) build(f string, metric func(field, m string) error) (analysis.Analyzer, error) {
	for _, m := range []struct{ field, name string }{{"cpu", c.CPU}, {"memory", c.Memory}, {"replicas", c.Replicas}, {"requests", c.Requests}} {
		if err := metric(f+"."+m.field, m.name); err != nil {
			return nil, err
		}
	}
	if c.Currency != "" && (len([]rune(c.Currency)) > 3 || strings.ContainsAny(c.Currency, "0123456789 \t\n")) {
		return nil, canary.Invalid(f+".currency", c.Currency, "must be a currency symbol such as £, € or $ (at most 3 characters, no digit or space); empty means £")
	}
	a := analysis.Cost{
		Prices: analysis.Prices{VCPUHour: c.VCPUHour, GiBHour: c.GiBHour, ReplicaHour: c.ReplicaHour, Currency: c.Currency},
		CPU:    c.CPU, Memory: c.Memory, Replicas: c.Replicas, Requests: c.Requests, Window: c.Window.D(),
		Share: c.Share, Tolerance: c.Tolerance, Alpha: c.Alpha, Beta: c.Beta, MinRequests: c.MinRequests,
	}
	if math.IsNaN(c.Tolerance) || math.IsInf(c.Tolerance, 0) {
		return nil, canary.Invalid(f+".tolerance", c.Tolerance, "must be a number")
	}
	if err := a.Validate(); err != nil {
		var fe *canary.FieldError
		if errors.As(err, &fe) {
			if name, ok := costFields[fe.Field]; ok {
				return nil, &canary.FieldError{Field: f + "." + name, Value: fe.Value, Reason: fe.Reason}
			}
		}
		return nil, renameUnder(err, f, true)
	}
	return a, nil
}
