package analysis_test

import "math/rand/v2"

type testRand struct{ *rand.Rand }

func newRand(seed uint64) testRand { return testRand{rand.New(rand.NewPCG(seed, 1))} }

func (r testRand) binomial(n int64, p float64) int64 {
	var k int64
	for i := int64(0); i < n; i++ {
		if r.Float64() < p {
			k++
		}
	}
	return k
}
