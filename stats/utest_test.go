package stats

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strconv"
	"testing"

	"github.com/meshcanary/canary"
)

// rnum is a number written by R as a string ("1.5", "Inf", "-Inf").
type rnum float64

func (n *rnum) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	*n = rnum(v)
	return err
}

type refCase struct {
	Name        string  `json:"name"`
	X           []rnum  `json:"x"`
	Y           []rnum  `json:"y"`
	Alternative string  `json:"alternative"`
	Mu          rnum    `json:"mu"`
	Correct     bool    `json:"correct"`
	Exact       *bool   `json:"exact"`
	ConfLevel   rnum    `json:"confLevel"`
	Method      string  `json:"method"`
	Statistic   rnum    `json:"statistic"`
	PValue      rnum    `json:"pValue"`
	ConfInt     [2]rnum `json:"confInt"`
	Achieved    rnum    `json:"achievedConfLevel"`
	Estimate    rnum    `json:"estimate"`
}

func floats(v []rnum) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func loadReference(t *testing.T) []refCase {
	t.Helper()
	b, err := os.ReadFile("testdata/wilcox_reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []refCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("only %d reference cases", len(cases))
	}
	return cases
}

func close9(got, want float64) bool {
	if math.IsInf(want, 0) {
		return got == want
	}
	return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want))
}

// TestUTestMatchesR holds UTest to the values R's wilcox.test printed
// (scripts/r/wilcox_reference.R → testdata/wilcox_reference.json).
func TestUTestMatchesR(t *testing.T) {
	for _, c := range loadReference(t) {
		t.Run(c.Name, func(t *testing.T) {
			o := UTestOptions{Mu: float64(c.Mu), NoCorrection: !c.Correct, ConfLevel: float64(c.ConfLevel)}
			switch c.Alternative {
			case "greater":
				o.Alternative = Greater
			case "less":
				o.Alternative = Less
			}
			if c.Exact != nil && !*c.Exact {
				o.Method = MethodNormal
			}
			r, err := UTest(floats(c.X), floats(c.Y), o)
			if err != nil {
				t.Fatal(err)
			}
			wantExact := c.Method == "Wilcoxon rank sum exact test"
			if r.Exact != wantExact {
				t.Errorf("Exact = %v, R's method %q", r.Exact, c.Method)
			}
			for _, f := range []struct {
				name      string
				got, want float64
			}{
				{"statistic", r.W, float64(c.Statistic)},
				{"p-value", r.PValue, float64(c.PValue)},
				{"conf.int low", r.Low, float64(c.ConfInt[0])},
				{"conf.int high", r.High, float64(c.ConfInt[1])},
				{"conf.level", r.ConfLevel, float64(c.Achieved)},
				{"estimate", r.Estimate, float64(c.Estimate)},
			} {
				if !close9(f.got, f.want) {
					t.Errorf("%s = %.17g, R says %.17g", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestUTestRefusesBadInput(t *testing.T) {
	good := []float64{1, 2, 3}
	tests := []struct {
		name  string
		x, y  []float64
		o     UTestOptions
		field string
	}{
		{"empty x", nil, good, UTestOptions{}, "x"},
		{"empty y", good, []float64{}, UTestOptions{}, "y"},
		{"NaN in x", []float64{1, math.NaN()}, good, UTestOptions{}, "x[1]"},
		{"Inf in y", good, []float64{math.Inf(1)}, UTestOptions{}, "y[0]"},
		{"conf level 1", good, good, UTestOptions{ConfLevel: 1}, "UTestOptions.ConfLevel"},
		{"conf level negative", good, good, UTestOptions{ConfLevel: -0.5}, "UTestOptions.ConfLevel"},
		{"conf level NaN", good, good, UTestOptions{ConfLevel: math.NaN()}, "UTestOptions.ConfLevel"},
		{"mu NaN", good, good, UTestOptions{Mu: math.NaN()}, "UTestOptions.Mu"},
		{"alternative", good, good, UTestOptions{Alternative: 7}, "UTestOptions.Alternative"},
		{"method", good, good, UTestOptions{Method: -1}, "UTestOptions.Method"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := UTest(tc.x, tc.y, tc.o)
			var fe *canary.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, canary.ErrInvalid) {
				t.Fatalf("err = %v, want a *canary.FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("Field = %q, want %q", fe.Field, tc.field)
			}
		})
	}
}

// TestUTestExactTiesMatchesExactRankTests holds MethodExactTies to the exact
// conditional p-values of R's exactRankTests::wilcox.exact
// (scripts/r/wilcox_exact_ties.R → testdata/wilcox_exact_ties.json).
func TestUTestExactTiesMatchesExactRankTests(t *testing.T) {
	b, err := os.ReadFile("testdata/wilcox_exact_ties.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []refCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			o := UTestOptions{Method: MethodExactTies}
			switch c.Alternative {
			case "greater":
				o.Alternative = Greater
			case "less":
				o.Alternative = Less
			}
			r, err := UTest(floats(c.X), floats(c.Y), o)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Exact {
				t.Error("not exact")
			}
			if !close9(r.W, float64(c.Statistic)) || !close9(r.PValue, float64(c.PValue)) {
				t.Errorf("W, p = %.17g, %.17g; R says %.17g, %.17g", r.W, r.PValue, float64(c.Statistic), float64(c.PValue))
			}
		})
	}
}

// TestExactTiesByEnumeration checks the shift algorithm against a brute-force
// enumeration of every way to split the pooled sample.
func TestExactTiesByEnumeration(t *testing.T) {
	x := []float64{1, 3, 3, 5, 7}
	y := []float64{2, 3, 5, 5, 8, 8}
	pooled := append(append([]float64{}, x...), y...)
	obs, _ := UTest(x, y, UTestOptions{Method: MethodExactTies, Alternative: Greater})
	n := len(pooled)
	var hits, total int
	for mask := 0; mask < 1<<n; mask++ {
		var xs, ys []float64
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				xs = append(xs, pooled[i])
			} else {
				ys = append(ys, pooled[i])
			}
		}
		if len(xs) != len(x) {
			continue
		}
		r, err := UTest(xs, ys, UTestOptions{Method: MethodNormal})
		if err != nil {
			t.Fatal(err)
		}
		total++
		if r.W >= obs.W-1e-9 {
			hits++
		}
	}
	want := float64(hits) / float64(total)
	if math.Abs(obs.PValue-want) > 1e-12 {
		t.Errorf("p = %v, enumeration gives %v (%d of %d)", obs.PValue, want, hits, total)
	}
}
