package stats

import "math"

// LogMix returns log Σᵢ wᵢ·exp(vᵢ), skipping the parts whose weight is not
// positive: the log of a mixture of e-values given in log space. A mixture
// of e-processes with weights summing to at most 1 is an e-process.
// It is −∞ when every weighted part is.
func LogMix(v []float64, w []float64) float64 {
	hi := math.Inf(-1)
	for i := range v {
		if w[i] > 0 && v[i]+math.Log(w[i]) > hi {
			hi = v[i] + math.Log(w[i])
		}
	}
	if math.IsInf(hi, -1) {
		return hi
	}
	s := 0.0
	for i := range v {
		if w[i] > 0 {
			s += math.Exp(v[i] + math.Log(w[i]) - hi)
		}
	}
	return hi + math.Log(s)
}

// LogAdd returns log(e^a + e^b) without overflow; a may be −∞.
func LogAdd(a, b float64) float64 {
	if math.IsInf(a, -1) {
		return b
	}
	hi, lo := math.Max(a, b), math.Min(a, b)
	return hi + math.Log1p(math.Exp(lo-hi))
}

// CUSUM is one step of Page's cumulative sum (Page 1954): given the
// statistic w after the earlier windows and the log likelihood ratio of
// the latest window, it returns max(0, w + logLR), the largest sum of log
// likelihood ratios over any run of latest windows. Under the null the
// statistic drifts down, and P(w ≥ h) ≤ e^−h at any look (Lorden 1971).
// Start it at 0.
func CUSUM(w, logLR float64) float64 { return math.Max(0, w+logLR) }

// EDetector is one step of an e-detector (Shin, Ramdas and Rinaldo,
// "E-detectors: a nonparametric framework for sequential change detection",
// 2023) in log space: M_k = LR_k · (M_{k−1} + w_k), a mixture over start
// windows j of the products of the windows' likelihood ratios from j on,
// with start j weighted w_j. logM is log M_{k−1} (−∞ before the first
// window), logLR the latest window's log likelihood ratio and logW log w_k.
// With weights that sum to at most 1 (for example 1/((j+1)(j+2)), j ≥ 0)
// the mixture is itself an e-process, so Ville's inequality bounds the
// chance it ever reaches 1/α under the null by α, while a change that
// starts late is judged on the windows since it started.
func EDetector(logM, logLR, logW float64) float64 { return logLR + LogAdd(logM, logW) }
