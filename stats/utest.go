package stats

import (
	"fmt"
	"math"
	"slices"

	"github.com/meshcanary/canary"
)

// Alternative is the alternative hypothesis of a test about the shift
// x − y. The zero Alternative is TwoSided.
type Alternative int

const (
	// TwoSided: the shift is not zero.
	TwoSided Alternative = iota
	// Greater: x is shifted above y.
	Greater
	// Less: x is shifted below y.
	Less
)

func (a Alternative) String() string {
	switch a {
	case TwoSided:
		return "two.sided"
	case Greater:
		return "greater"
	case Less:
		return "less"
	}
	return fmt.Sprintf("Alternative(%d)", int(a))
}

// Method chooses how UTest computes its p-value. The zero Method is
// MethodAuto.
type Method int

const (
	// MethodAuto is R's default (wilcox.test with exact = NULL): the exact
	// distribution when both samples have fewer than 50 values and there
	// are no ties, the normal approximation otherwise.
	MethodAuto Method = iota
	// MethodExactTies goes beyond R: the exact conditional (permutation)
	// distribution of the rank sum whenever both samples have fewer than
	// 50 values, ties included; the normal approximation otherwise. With
	// no ties it gives exactly what MethodAuto gives.
	MethodExactTies
	// MethodNormal always uses the normal approximation (R's exact = FALSE).
	MethodNormal
)

// exactLimit is the sample size below which the exact distribution is used
// (R's rule: both samples smaller than 50).
const exactLimit = 50

// UTestOptions configure UTest. The zero value is R's wilcox.test default
// for two samples: two-sided, shift 0, continuity correction on, exact
// distribution for small untied samples, 95 % confidence interval.
type UTestOptions struct {
	Alternative Alternative
	Method      Method
	// Mu is the shift under the null hypothesis (R's mu).
	Mu float64
	// NoCorrection turns the continuity correction of the normal
	// approximation off (R's correct = FALSE).
	NoCorrection bool
	// ConfLevel is the confidence level of the interval for the shift, in
	// (0, 1); 0 means 0.95.
	ConfLevel float64
}

// UTestResult is what UTest computes; the names follow R's htest object.
type UTestResult struct {
	// W is the Mann-Whitney statistic of x: the rank sum of x minus
	// nx(nx+1)/2, the number of pairs with x above y (ties counting ½).
	W      float64 `json:"statistic"`
	PValue float64 `json:"pValue"`
	// Low and High bound the confidence interval for the shift x − y
	// (−Inf or +Inf on the open side of a one-sided test).
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	// ConfLevel is the level the interval achieves: the level asked for,
	// or lower where the exact distribution cannot reach it (as in R).
	ConfLevel float64 `json:"confLevel"`
	// Estimate is the Hodges–Lehmann estimate of the shift: the median of
	// the pairwise differences (exact), or the root of the standardized
	// statistic (normal approximation, as R computes it).
	Estimate float64 `json:"estimate"`
	// Exact reports whether the p-value comes from the exact distribution.
	Exact bool `json:"exact"`
	// Z is the standardized statistic of the normal approximation (0 when
	// Exact).
	Z float64 `json:"z,omitempty"`
}

// UTest runs the two-sample Wilcoxon rank-sum (Mann-Whitney U) test of x
// against y with a confidence interval and estimate for the shift x − y,
// computed as R's wilcox.test(x, y, conf.int = TRUE) computes them (see the
// package doc for where it goes beyond R). x and y must be non-empty and
// hold only finite numbers; apply a NaN strategy first.
func UTest(x, y []float64, o UTestOptions) (UTestResult, error) {
	if err := checkSample("x", x); err != nil {
		return UTestResult{}, err
	}
	if err := checkSample("y", y); err != nil {
		return UTestResult{}, err
	}
	conf := o.ConfLevel
	if conf == 0 {
		conf = 0.95
	}
	if !(conf > 0 && conf < 1) {
		return UTestResult{}, canary.Invalid("UTestOptions.ConfLevel", o.ConfLevel, "must be between 0 and 1 (exclusive)")
	}
	if !finite(o.Mu) {
		return UTestResult{}, canary.Invalid("UTestOptions.Mu", o.Mu, "must be a finite number")
	}
	if o.Alternative < TwoSided || o.Alternative > Less {
		return UTestResult{}, canary.Invalid("UTestOptions.Alternative", int(o.Alternative), "must be TwoSided, Greater or Less")
	}
	if o.Method < MethodAuto || o.Method > MethodNormal {
		return UTestResult{}, canary.Invalid("UTestOptions.Method", int(o.Method), "must be MethodAuto, MethodExactTies or MethodNormal")
	}
	xs := slices.Clone(x)
	ys := slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	t := rankSum{xs: xs, ys: ys, nx: float64(len(xs)), ny: float64(len(ys)), yTies: -1}
	xm := xs
	if o.Mu != 0 {
		xm = make([]float64, len(xs))
		for i, v := range xs {
			xm[i] = v - o.Mu
		}
	}
	sumR, tieTerm, ties := t.ranks(xm)
	res := UTestResult{W: sumR - t.nx*(t.nx+1)/2, ConfLevel: conf}
	small := len(xs) < exactLimit && len(ys) < exactLimit
	exact := o.Method != MethodNormal && small && (!ties || o.Method == MethodExactTies)
	alpha := 1 - conf
	if exact {
		res.Exact = true
		if ties {
			res.PValue = exactTiesP(xm, ys, o.Alternative)
		} else {
			d := newWilcoxDist(len(xs), len(ys))
			res.PValue = d.pvalue(res.W, o.Alternative)
		}
		res.exactCI(xs, ys, alpha, o.Alternative)
		return res, nil
	}
	corr := 0.0
	z := res.W - t.nx*t.ny/2
	if !o.NoCorrection {
		corr = continuity(z, o.Alternative)
	}
	sigma := t.sigma(tieTerm)
	if sigma == 0 {
		// Every value ties with every other: no evidence of any shift.
		res.PValue, res.Low, res.High, res.Estimate = 1, 0, 0, 0
		if o.Alternative == Greater {
			res.High = math.Inf(1)
		} else if o.Alternative == Less {
			res.Low = math.Inf(-1)
		}
		return res, nil
	}
	z = (z - corr) / sigma
	res.Z = z
	switch o.Alternative {
	case Less:
		res.PValue = pnorm(z)
	case Greater:
		res.PValue = pnormUpper(z)
	default:
		res.PValue = 2 * math.Min(pnorm(z), pnormUpper(z))
	}
	t.normalCI(&res, alpha, o.Alternative, !o.NoCorrection)
	return res, nil
}

func checkSample(field string, s []float64) error {
	if len(s) == 0 {
		return canary.Invalid(field, nil, "must hold at least one value")
	}
	for i, v := range s {
		if !finite(v) {
			return canary.Invalid(fmt.Sprintf("%s[%d]", field, i), v, "must be a finite number")
		}
	}
	return nil
}

func continuity(z float64, alt Alternative) float64 {
	switch alt {
	case Greater:
		return 0.5
	case Less:
		return -0.5
	}
	switch {
	case z > 0:
		return 0.5
	case z < 0:
		return -0.5
	}
	return 0
}

// rankSum holds two sorted samples.
type rankSum struct {
	xs, ys []float64
	nx, ny float64
	// yTies is Σ(t³ − t) over y's own tie groups (computed once; < 0 until
	// then) and yHasTies whether y has any.
	yTies    float64
	yHasTies bool
}

// ranks merges xm (sorted; x shifted) with t.ys and returns the sum of xm's
// mid-ranks, Σ(t³ − t) over the tie groups, and whether any tie exists. It
// computes exactly what R's sum(rank(c(x - d, y))[seq_along(x)]) and
// sum(table(r)^3 - table(r)) compute, in O(nx + ny).
func (t *rankSum) ranks(xm []float64) (sumR, tieTerm float64, ties bool) {
	if t.yTies < 0 {
		t.yTies, t.yHasTies = 0, false
		for j := 0; j < len(t.ys); {
			k := j + 1
			for k < len(t.ys) && t.ys[k] == t.ys[j] {
				k++
			}
			if n := float64(k - j); n > 1 {
				t.yTies += n*n*n - n
				t.yHasTies = true
			}
			j = k
		}
	}
	// The mid-ranks of x sum to nx(nx+1)/2 (their ranks among themselves)
	// plus, for each x, the y below it and half the y equal to it.
	ys := t.ys
	nx := len(xm)
	var below, equalHalf int64
	tieTerm, ties = t.yTies, t.yHasTies
	j := 0
	for i := 0; i < nx; {
		v := xm[i]
		k := i + 1
		for k < nx && xm[k] == v {
			k++
		}
		cx := int64(k - i)
		for j < len(ys) && ys[j] < v {
			j++
		}
		e := j
		for e < len(ys) && ys[e] == v {
			e++
		}
		cy := int64(e - j)
		below += cx * int64(j)
		equalHalf += cx * cy
		if n := cx + cy; n > 1 {
			ties = true
			fn, fy := float64(n), float64(cy)
			tieTerm += (fn*fn*fn - fn) - (fy*fy*fy - fy)
		}
		i = k
	}
	fnx := float64(nx)
	sumR = fnx*(fnx+1)/2 + float64(below) + float64(equalHalf)/2
	return sumR, tieTerm, ties
}

func (t *rankSum) sigma(tieTerm float64) float64 {
	nx, ny := t.nx, t.ny
	return math.Sqrt((nx * ny / 12) * ((nx + ny + 1) - tieTerm/((nx+ny)*(nx+ny-1))))
}

// w is R's W(d) inside wilcox.test: the standardized statistic of x − d
// against y.
func (t *rankSum) w(d float64, buf []float64, correct bool, alt Alternative) float64 {
	for i, v := range t.xs {
		buf[i] = v - d
	}
	sumR, tieTerm, _ := t.ranks(buf)
	dz := sumR - t.nx*(t.nx+1)/2 - t.nx*t.ny/2
	c := 0.0
	if correct {
		c = continuity(dz, alt)
	}
	return (dz - c) / t.sigma(tieTerm)
}

// normalCI computes R's asymptotic interval and estimate.
func (t *rankSum) normalCI(res *UTestResult, alpha float64, alt Alternative, correct bool) {
	mumin := t.xs[0] - t.ys[len(t.ys)-1]
	mumax := t.xs[len(t.xs)-1] - t.ys[0]
	buf := make([]float64, len(t.xs))
	w := func(d float64) float64 { return t.w(d, buf, correct, alt) }
	wmin, wmax := w(mumin), w(mumax)
	root := func(zq float64) float64 {
		fl := wmin - zq
		if fl <= 0 {
			return mumin
		}
		fu := wmax - zq
		if fu >= 0 {
			return mumax
		}
		return zeroin(mumin, mumax, fl, fu, func(d float64) float64 { return w(d) - zq }, 1e-4, 1000)
	}
	switch alt {
	case Greater:
		res.Low, res.High = root(qnorm(1-alpha)), math.Inf(1)
	case Less:
		res.Low, res.High = math.Inf(-1), root(qnorm(alpha))
	default:
		res.Low, res.High = root(qnorm(1-alpha/2)), root(qnorm(alpha/2))
	}
	// The estimate: the root of W without continuity correction.
	w0 := func(d float64) float64 { return t.w(d, buf, false, alt) }
	if !(mumin < mumax) {
		res.Estimate = mumin
		return
	}
	f0, f1 := w0(mumin), w0(mumax)
	if f0*f1 > 0 || math.IsNaN(f0) || math.IsNaN(f1) {
		res.Estimate = hodgesLehmann(t.xs, t.ys)
		return
	}
	res.Estimate = zeroin(mumin, mumax, f0, f1, w0, 1e-4, 1000)
	orderInterval(res)
}

// orderInterval keeps the interval ordered and the estimate inside it. The
// roots are found to R's absolute tolerance (1e-4, as uniroot uses), which
// can be coarser than the spread of the data: then the two bounds, found
// separately, may cross (fuzzing found [6.84e-5, 6.62e-5] around an
// estimate of 6.18e-5). R reports such crossed bounds as they are; this
// package orders them and widens the interval to hold the estimate.
func orderInterval(res *UTestResult) {
	if res.Low > res.High {
		res.Low, res.High = res.High, res.Low
	}
	res.Low = math.Min(res.Low, res.Estimate)
	res.High = math.Max(res.High, res.Estimate)
}

// exactCI computes R's exact interval (order statistics of the pairwise
// differences at the quantiles of the untied null distribution) and the
// Hodges–Lehmann estimate.
func (res *UTestResult) exactCI(xs, ys []float64, alpha float64, alt Alternative) {
	diffs := make([]float64, 0, len(xs)*len(ys))
	for _, a := range xs {
		for _, b := range ys {
			diffs = append(diffs, a-b)
		}
	}
	slices.Sort(diffs)
	res.Estimate = median(diffs)
	d := newWilcoxDist(len(xs), len(ys))
	mn := len(xs) * len(ys)
	var achieved float64
	switch alt {
	case Greater:
		qu := max(d.quantile(alpha), 1)
		achieved = d.cdf(qu - 1)
		res.Low, res.High = diffs[qu-1], math.Inf(1)
	case Less:
		qu := max(d.quantile(alpha), 1)
		ql := mn - qu
		achieved = d.cdf(qu - 1)
		res.Low, res.High = math.Inf(-1), diffs[ql]
	default:
		qu := max(d.quantile(alpha/2), 1)
		ql := mn - qu
		achieved = 2 * d.cdf(qu-1)
		res.Low, res.High = diffs[qu-1], diffs[ql]
	}
	if achieved-alpha > alpha/2 {
		res.ConfLevel = 1 - achieved
	}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// hodgesLehmann is the median of the pairwise differences of two sorted
// samples (used only as a fallback where the root finder has no bracket).
func hodgesLehmann(xs, ys []float64) float64 {
	if len(xs)*len(ys) <= 1<<20 {
		diffs := make([]float64, 0, len(xs)*len(ys))
		for _, a := range xs {
			for _, b := range ys {
				diffs = append(diffs, a-b)
			}
		}
		slices.Sort(diffs)
		return median(diffs)
	}
	return median(xs) - median(ys)
}

// wilcoxDist is the null distribution of the untied Mann-Whitney statistic
// U for sample sizes m and n: p[u] = P(U = u).
type wilcoxDist struct {
	m, n int
	p    []float64
}

// newWilcoxDist computes the distribution with the recurrence
// P_{m,n}(u) = m/(m+n)·P_{m−1,n}(u−n) + n/(m+n)·P_{m,n−1}(u), in
// probabilities (no overflowing counts), O(m²n²/2) at worst.
func newWilcoxDist(m, n int) wilcoxDist {
	// prev[j] holds P_{i-1, j}; built row by row over i.
	rows := make([][]float64, n+1) // P_{0,j}: U = 0 surely
	for j := range rows {
		rows[j] = []float64{1}
	}
	for i := 1; i <= m; i++ {
		cur := make([][]float64, n+1)
		cur[0] = []float64{1}
		for j := 1; j <= n; j++ {
			p := make([]float64, i*j+1)
			a := float64(i) / float64(i+j)
			b := float64(j) / float64(i+j)
			for u, v := range rows[j] { // P_{i-1,j}(u) feeds u + j
				p[u+j] += a * v
			}
			for u, v := range cur[j-1] {
				p[u] += b * v
			}
			cur[j] = p
		}
		rows = cur
	}
	return wilcoxDist{m: m, n: n, p: rows[n]}
}

// cdf is P(U ≤ q) (R's pwilcox), summing over the shorter tail as R does.
func (d wilcoxDist) cdf(q int) float64 {
	mn := d.m * d.n
	if q < 0 {
		return 0
	}
	if q >= mn {
		return 1
	}
	s := 0.0
	if float64(q) <= float64(mn)/2 {
		for i := 0; i <= q; i++ {
			s += d.p[i]
		}
		return s
	}
	for i := 0; i < mn-q; i++ {
		s += d.p[i]
	}
	return 1 - s
}

// upper is P(U > q) (R's pwilcox(q, lower.tail = FALSE)).
func (d wilcoxDist) upper(q int) float64 {
	mn := d.m * d.n
	if q < 0 {
		return 1
	}
	if q >= mn {
		return 0
	}
	s := 0.0
	if float64(q) <= float64(mn)/2 {
		for i := 0; i <= q; i++ {
			s += d.p[i]
		}
		return 1 - s
	}
	for i := 0; i < mn-q; i++ {
		s += d.p[i]
	}
	return s
}

// quantile is R's qwilcox(p, m, n) for p ≤ 0.5: the smallest q with
// P(U ≤ q) ≥ p (less 10 ε, as R allows).
func (d wilcoxDist) quantile(p float64) int {
	const eps = 2.220446049250313e-16
	mn := d.m * d.n
	if p <= 0.5 {
		p -= 10 * eps
		s := 0.0
		for q := 0; q <= mn; q++ {
			s += d.p[q]
			if s >= p {
				return q
			}
		}
		return mn
	}
	p = 1 - p + 10*eps
	s := 0.0
	for q := 0; q <= mn; q++ {
		s += d.p[q]
		if s > p {
			return mn - q
		}
	}
	return 0
}

func (d wilcoxDist) pvalue(w float64, alt Alternative) float64 {
	q := int(math.Round(w))
	switch alt {
	case Greater:
		return d.upper(q - 1)
	case Less:
		return d.cdf(q)
	}
	var p float64
	if w > float64(d.m*d.n)/2 {
		p = d.upper(q - 1)
	} else {
		p = d.cdf(q)
	}
	return math.Min(2*p, 1)
}

// exactTiesP is the exact conditional p-value of the rank sum of xm (sorted)
// given the tie pattern of the pooled sample: every choice of len(xm) of the
// pooled values is equally likely under the null. The statistic is the sum
// of doubled mid-ranks (an integer), and its distribution is built by the
// shift algorithm (Streitberg and Röhmel) over the pooled values. Two-sided
// p-values are P(|S − E S| ≥ |s − E S|), which equals R's doubled tail when
// there are no ties.
func exactTiesP(xm, ys []float64, alt Alternative) float64 {
	pooled := make([]float64, 0, len(xm)+len(ys))
	pooled = append(pooled, xm...)
	pooled = append(pooled, ys...)
	slices.Sort(pooled)
	N, m := len(pooled), len(xm)
	scores := make([]int, N) // doubled mid-ranks
	for i := 0; i < N; {
		j := i
		for j < N && pooled[j] == pooled[i] {
			j++
		}
		s := i + 1 + j // 2 × (i+1 + j)/2
		for k := i; k < j; k++ {
			scores[k] = s
		}
		i = j
	}
	// observed statistic
	obs := 0
	{
		i := 0
		for _, v := range xm {
			for pooled[i] != v {
				i++
			}
			obs += scores[i]
		}
	}
	maxS := 0
	for k := N - m; k < N; k++ {
		maxS += scores[k]
	}
	// cnt[k][s]: number of k-subsets of the items seen with score sum s.
	cnt := make([][]float64, m+1)
	for k := range cnt {
		cnt[k] = make([]float64, maxS+1)
	}
	cnt[0][0] = 1
	reach := 0 // the largest sum any subset of the items seen reaches
	for idx, sc := range scores {
		// a k-subset is only useful if m − k items remain after this one
		lowK := max(1, m-(N-idx-1))
		hi := min(reach, maxS-sc)
		for k := min(idx+1, m); k >= lowK; k-- {
			src, dst := cnt[k-1], cnt[k]
			for s := hi; s >= 0; s-- {
				if v := src[s]; v != 0 {
					dst[s+sc] += v
				}
			}
		}
		reach = min(reach+sc, maxS)
	}
	dist := cnt[m]
	total, mean := 0.0, 0.0
	for s, v := range dist {
		total += v
		mean += float64(s) * v
	}
	mean /= total
	var p float64
	switch alt {
	case Greater:
		for s := obs; s <= maxS; s++ {
			p += dist[s]
		}
	case Less:
		for s := 0; s <= obs; s++ {
			p += dist[s]
		}
	default:
		dev := math.Abs(float64(obs)-mean) * (1 - 1e-12)
		for s, v := range dist {
			if math.Abs(float64(s)-mean) >= dev {
				p += v
			}
		}
	}
	return math.Min(p/total, 1)
}
