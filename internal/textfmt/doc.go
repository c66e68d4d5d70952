// Package textfmt holds the formatting that package display offers to
// programs (instants in a location, numbers and percentages in UK format,
// untrusted text kept on one line), so that the core packages below
// display (analysis, rollback) can write the few texts they keep, such as
// an analyzer's reason, without importing display, which renders their
// events. Programs use display; see its documentation for the rules.
package textfmt
