package stats

import "math"

// Quantile is the sample quantile of sorted (ascending) data at p in
// [0, 1] by linear interpolation between order statistics: R's type 7,
// the default of R's quantile() (Hyndman and Fan, "Sample quantiles in
// statistical packages", Am. Stat. 50, 1996). It is NaN for no data or a
// p outside [0, 1].
func Quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 || !(p >= 0 && p <= 1) {
		return math.NaN()
	}
	h := float64(len(sorted)-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (h-lo)*(sorted[i+1]-sorted[i])
}
