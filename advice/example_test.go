package advice_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/advice"
	"github.com/meshcanary/canary/rollback"
)

// At 500 requests/s and 1 % errors the default preset decides within
// minutes both ways, and never needs a person.
func ExampleAdvise() {
	a, err := advice.Advise(context.Background(), advice.Input{
		RPS:       500,
		ErrorRate: 0.01,
		Plan:      rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: time.Minute},
		Runs:      20,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("good canary promoted in %d of %d runs, median within 10 min: %v, paused: %d\n",
		a.Good.Right, a.Good.Runs, a.Good.Median <= 10*time.Minute, a.Good.Paused)
	fmt.Printf("regression (%.0f %% errors) rolled back in %d of %d runs, median within 3 min: %v, paused: %d\n",
		100*a.Regression.ErrorRate, a.Regression.Right, a.Regression.Runs, a.Regression.Median <= 3*time.Minute, a.Regression.Paused)
	// Output:
	// good canary promoted in 20 of 20 runs, median within 10 min: true, paused: 0
	// regression (2 % errors) rolled back in 20 of 20 runs, median within 3 min: true, paused: 0
}

// Bad input names its field.
func ExampleAdvise_badInput() {
	_, err := advice.Advise(context.Background(), advice.Input{RPS: 50, ErrorRate: 1.5,
		Plan: rollback.Plan{StageWeight: 10, MaxWeight: 50, Interval: time.Minute}})
	var fe *canary.FieldError
	if errors.As(err, &fe) {
		fmt.Println(fe.Field)
	}
	// Output:
	// Input.ErrorRate
}
