package main

// Presentation for people: times in Europe/London (GMT/BST), numbers in UK
// format. This file is the one place that calls the library's formatting
// (package display); main imports time/tzdata so that Europe/London
// resolves on any machine.

import (
	"time"

	"github.com/meshcanary/canary/display"
	"github.com/meshcanary/canary/rollback"
)

var london, _ = display.DefaultLocation()

// fmtTime writes "24/11/2026 14:03:05 GMT".
func fmtTime(t time.Time) string { return display.FormatTime(t) }

// fmtClock writes "14:03:05 GMT".
func fmtClock(t time.Time) string { return t.In(london).Format("15:04:05 MST") }

// fmtNum writes 1234567.891 as "1,234,567.891" (prec decimals at most).
func fmtNum(v float64, prec int) string { return display.FormatNumber(v, prec) }

// eventLine is one event for people.
func eventLine(e rollback.Event) string { return e.String() }
