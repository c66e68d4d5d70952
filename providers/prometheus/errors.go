package prometheus

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/meshcanary/canary"
	"github.com/meshcanary/canary/metrics"
)

// classify gives an error from the Prometheus client its code, once: an
// error that already has one ([metrics.ErrNoData], a *[canary.FieldError], a
// context error) is returned as is; a *v1.Error is classified by its type
// and, for an HTTP error, its status — 401 and 403 wrap
// [metrics.ErrUnauthorized], 429 [metrics.ErrRateLimited], others get the
// status's code ([canary.HTTPCode]). The *v1.Error stays reachable with
// errors.As.
func classify(err error) error {
	if err == nil || canary.Code(err) != canary.Unknown {
		return err
	}
	var ve *v1.Error
	if !errors.As(err, &ve) {
		return err
	}
	code := canary.Unknown
	switch ve.Type {
	case v1.ErrBadData:
		code = canary.InvalidArgument
	case v1.ErrTimeout:
		code = canary.DeadlineExceeded
	case v1.ErrCanceled:
		code = canary.Canceled
	case v1.ErrClient, v1.ErrServer:
		code = canary.HTTPCode(httpStatus(ve.Msg))
	}
	switch code {
	case canary.Unauthorized:
		return fmt.Errorf("%w: %w", metrics.ErrUnauthorized, err)
	case canary.RateLimited:
		return fmt.Errorf("%w: %w", metrics.ErrRateLimited, err)
	case canary.Unknown:
		return err
	}
	return canary.WithCode(code, err)
}

// httpStatus reads the status from the message client_golang gives a
// plain HTTP error ("client error: 401", "server error: 503"); 0 when
// there is none.
func httpStatus(msg string) int {
	i := strings.LastIndex(msg, ": ")
	if i < 0 {
		return 0
	}
	n, err := strconv.Atoi(msg[i+2:])
	if err != nil {
		return 0
	}
	return n
}
