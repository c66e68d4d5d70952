package cloudwatch

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// deadlineRetryer is the client's own retryer (the SDK's standard one
// unless the caller set another) with one change: a back-off that would end
// after the caller's deadline is not slept. The SDK's retry middleware
// would sleep until the context expired and return only the context's
// error; this returns at once with an error wrapping ErrThrottled (for a
// throttling error) and the SDK's error, so the caller learns why and keeps
// the rest of its time. It is installed per request, since it needs that
// request's deadline.
type deadlineRetryer struct {
	aws.RetryerV2
	deadline time.Time
	now      func() time.Time
}

func (r deadlineRetryer) RetryDelay(attempt int, opErr error) (time.Duration, error) {
	d, err := r.RetryerV2.RetryDelay(attempt, opErr)
	if err != nil {
		return d, err
	}
	if left := r.deadline.Sub(r.now()); d >= left {
		if isThrottle(opErr) {
			return 0, fmt.Errorf("%w (back-off %v, %v left): %w", ErrThrottled, d.Round(time.Millisecond), left.Round(time.Millisecond), opErr)
		}
		return 0, fmt.Errorf("cloudwatch: no time left before the deadline to retry (back-off %v, %v left): %w", d.Round(time.Millisecond), left.Round(time.Millisecond), opErr)
	}
	return d, nil
}

// isThrottle reports whether err carries one of the SDK's throttling error
// codes (Throttling, ThrottlingException, TooManyRequestsException…).
func isThrottle(err error) bool {
	return throttleCodes.IsErrorThrottle(err) == aws.TrueTernary
}

// toV2 returns r as an aws.RetryerV2.
var throttleCodes = retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}

func toV2(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return retryerV2{r}
}

type retryerV2 struct{ aws.Retryer }

func (r retryerV2) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}
