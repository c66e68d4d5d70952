package stats

import (
	"encoding/binary"
	"math"
	"testing"
)

func floatsFrom(b []byte, max int) []float64 {
	var out []float64
	for len(b) >= 8 && len(out) < max {
		out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	return out
}

func bytesOf(v ...float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, f := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

// FuzzUTest: any input gives either a *canary.FieldError or a result whose
// p-value is in [0, 1] and whose interval is ordered; never a panic.
func FuzzUTest(f *testing.F) {
	f.Add(bytesOf(1, 2, 3), bytesOf(4, 5), uint8(0), uint8(0), 0.95)
	f.Add(bytesOf(1, 1, 1), bytesOf(1, 1), uint8(1), uint8(1), 0.98)
	f.Add(bytesOf(math.NaN()), bytesOf(1), uint8(2), uint8(2), 0.5)
	f.Add([]byte{}, bytesOf(1), uint8(0), uint8(0), 1.5)
	f.Add(bytesOf(0, 0, 1, 0, 2), bytesOf(0, 0, 0, 1, 0, 0), uint8(0), uint8(1), 0.9)
	f.Fuzz(func(t *testing.T, xb, yb []byte, alt, method uint8, conf float64) {
		x, y := floatsFrom(xb, 60), floatsFrom(yb, 60)
		r, err := UTest(x, y, UTestOptions{Alternative: Alternative(alt % 4), Method: Method(method % 4), ConfLevel: conf})
		if err != nil {
			return
		}
		if !(r.PValue >= 0 && r.PValue <= 1) {
			t.Fatalf("p-value %v for %v vs %v", r.PValue, x, y)
		}
		if r.Low > r.High || math.IsNaN(r.Low) || math.IsNaN(r.High) || math.IsNaN(r.Estimate) {
			t.Fatalf("interval [%v, %v], estimate %v", r.Low, r.High, r.Estimate)
		}
	})
}

// TestMSPRTBothVersionsFailEverything (issue 19, item 1): an incident
// that fails every request of both versions gave Λ = NaN, which no state
// can save. (analysis.TestSequentialBothVersionsFailEverything checks the
// analyzer on the same counts.)
func TestMSPRTBothVersionsFailEverything(t *testing.T) {
	if l, _, err := MSPRT(1, 500, 1, 4500, 0, 0, 0.001); err != nil || math.IsNaN(l) || math.IsInf(l, 0) {
		t.Errorf("MSPRT(1, 1) = %v, %v", l, err)
	}
}
