// Package ratelimit reads how long a rate-limited HTTP answer (429) asks the
// client to wait, for the vendor metric providers.
package ratelimit
