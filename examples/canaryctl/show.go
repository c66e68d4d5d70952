package main

// Presentation for people: times in Europe/London (GMT/BST) unless a
// command's -tz flag names another zone, numbers in UK format. This file
// is the one place that calls the library's formatting (package display);
// main imports time/tzdata so that every zone resolves on any machine.

import (
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

// zone is the -tz flag of a command that shows times: an IANA zone name
// (America/New_York, Asia/Tokyo, UTC, Local). Its zero value, and a nil
// loc, mean display's default, Europe/London.
type zone struct{ loc *time.Location }

// addZone adds -tz to fs.
func addZone(fs *flag.FlagSet) *zone {
	z := &zone{}
	fs.Var(z, "tz", "time zone of the times shown: an IANA name such as America/New_York, or UTC or Local")
	return z
}

// String names the zone ("Europe/London" by default).
func (z *zone) String() string {
	if z == nil || z.loc == nil {
		return display.DefaultZone
	}
	return z.loc.String()
}

// Set reads a zone name.
func (z *zone) Set(s string) error {
	if s == "" {
		return errors.New("give a zone name, such as Europe/London or UTC")
	}
	l, err := time.LoadLocation(s)
	if err != nil {
		return fmt.Errorf("unknown time zone %q (an IANA name such as America/New_York, or UTC)", s)
	}
	z.loc = l
	return nil
}

// london reports whether times are shown in the default zone.
func (z *zone) london() bool { return z.String() == display.DefaultZone }

// fmtTime writes "24/11/2026 14:03:05 GMT" in loc (nil: Europe/London).
func fmtTime(t time.Time, loc *time.Location) string { return display.FormatTimeIn(t, loc) }

// fmtClock writes "14:03:05 GMT" in loc (nil: Europe/London).
func fmtClock(t time.Time, loc *time.Location) string {
	return t.In(orDefault(loc)).Format("15:04:05 MST")
}

// orDefault is loc, or Europe/London when loc is nil.
func orDefault(loc *time.Location) *time.Location {
	if loc != nil {
		return loc
	}
	l, _ := display.DefaultLocation()
	return l
}

// fmtNum writes 1234567.891 as "1,234,567.891" (prec decimals at most).
func fmtNum(v float64, prec int) string { return display.FormatNumber(v, prec) }

// eventLine is one event for people, its time in loc (nil: Europe/London).
func eventLine(e rollback.Event, loc *time.Location) string { return display.Event(e, loc) }
