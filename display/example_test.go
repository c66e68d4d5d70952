package display_test

import (
	"fmt"
	"math"
	"time"

	"github.com/meshcanary/canary/display"
)

func Example() {
	t := time.Date(2026, 7, 1, 13, 4, 5, 0, time.UTC)
	fmt.Println(display.FormatTime(t))
	fmt.Println(display.FormatNumber(1234567.891, 2))
	fmt.Println(display.FormatPercent(0.0523), display.FormatPercent(math.Inf(1)))
	fmt.Println(display.OneLine("upstream said: bad\n01/07/2026 14:04:05 BST  promoted\x1b[2J"))
	// Output:
	// 01/07/2026 14:04:05 BST
	// 1,234,567.89
	// 5.23 % ∞ %
	// upstream said: bad\n01/07/2026 14:04:05 BST  promoted\x1b[2J
}
