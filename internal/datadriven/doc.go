// Package datadriven runs transcript tests: files of commands, each with
// the output it is expected to print, checked or rewritten by a test. It
// reads and writes the file format of github.com/cockroachdb/datadriven
// (as used, for example, by etcd-io/raft's interaction tests), written
// here because the core module requires no other module.
//
// # Format
//
// A file is a sequence of test cases, blank lines and comment lines
// (starting with #) between them:
//
//	# A comment.
//	cmd arg1 key=value key2=(a, b) key3="a value"
//	optional input lines
//	----
//	expected output lines
//	<blank line>
//
// The first line of a case is the directive: a command name and its
// arguments, each a bare key, key=value, key="quoted value" or
// key=(value, value, …). A line ending in a backslash continues on the
// next. The input runs up to a line that is exactly "----"; the expected
// output runs from there to the first blank line or the end of the file.
// Output that holds blank lines is written between two separators and
// closed by two:
//
//	cmd
//	----
//	----
//	first paragraph
//
//	second paragraph
//	----
//	----
//
// # Running and rewriting
//
// RunTest calls a function for each case and compares what it returns
// with the expected output. With the -rewrite flag (go test ./pkg
// -args -rewrite, or -rewrite after the package list), the file is
// written back with each case's actual output in place of the expected
// one; directives, inputs, comments and blank lines are kept as they were.
// Review the diff before committing it.
package datadriven
