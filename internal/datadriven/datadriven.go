package datadriven

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var rewriteFlag = flag.Bool("rewrite", false, "datadriven: rewrite the expected output of transcript files with the actual output")

// TestData is one test case of a file.
type TestData struct {
	// Pos is where the case starts: "file:line".
	Pos string
	// Directive is the directive line as written (continuation lines
	// joined), for runners that parse their own arguments.
	Directive string
	// Cmd is the directive's command name.
	Cmd string
	// CmdArgs are the directive's arguments, in order.
	CmdArgs []CmdArg
	// Input is the text between the directive and the separator, without
	// its last newline.
	Input string
	// Expected is the expected output as the file has it, ending in a
	// newline unless empty.
	Expected string
	// Rewrite reports whether the file is being rewritten.
	Rewrite bool
}

// CmdArg is one argument of a directive: key, key=value or key=(v, v…).
type CmdArg struct {
	Key  string
	Vals []string
}

func (a CmdArg) String() string {
	switch len(a.Vals) {
	case 0:
		return a.Key
	case 1:
		v := a.Vals[0]
		if v == "" || strings.ContainsAny(v, " \t,()\"") {
			v = strconv.Quote(v)
		}
		return a.Key + "=" + v
	}
	return a.Key + "=(" + strings.Join(a.Vals, ", ") + ")"
}

// Arg returns the argument named key.
func (d *TestData) Arg(key string) (CmdArg, bool) {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a, true
		}
	}
	return CmdArg{}, false
}

// HasArg reports whether the directive has an argument named key.
func (d *TestData) HasArg(key string) bool {
	_, ok := d.Arg(key)
	return ok
}

// ScanArgs stores the values of argument key in dests (pointers to string,
// int, int64, uint64, float64 or bool, one per value; a single
// *[]string takes them all); it fails the test when key is missing or a
// value does not parse.
func (d *TestData) ScanArgs(t testing.TB, key string, dests ...any) {
	t.Helper()
	a, ok := d.Arg(key)
	if !ok {
		t.Fatalf("%s: %s: missing argument %q", d.Pos, d.Cmd, key)
	}
	if err := a.scan(dests...); err != nil {
		t.Fatalf("%s: %s: argument %s: %v", d.Pos, d.Cmd, key, err)
	}
}

func (a CmdArg) scan(dests ...any) error {
	if len(dests) == 1 {
		if p, ok := dests[0].(*[]string); ok {
			*p = append([]string(nil), a.Vals...)
			return nil
		}
	}
	if len(dests) != len(a.Vals) {
		return fmt.Errorf("%d values for %d destinations", len(a.Vals), len(dests))
	}
	for i, dest := range dests {
		v := a.Vals[i]
		var err error
		switch p := dest.(type) {
		case *string:
			*p = v
		case *int:
			*p, err = strconv.Atoi(v)
		case *int64:
			*p, err = strconv.ParseInt(v, 10, 64)
		case *uint64:
			*p, err = strconv.ParseUint(v, 10, 64)
		case *float64:
			*p, err = strconv.ParseFloat(v, 64)
		case *bool:
			*p, err = strconv.ParseBool(v)
		default:
			return fmt.Errorf("unsupported destination %T", dest)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Fatalf fails the test, naming the case's position.
func (d *TestData) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s: %s", d.Pos, fmt.Sprintf(format, args...))
}

// RunTest runs every case of the file at path through f, as a subtest
// named after the case's line and command, and reports each case whose
// output differs from the expected one; with -rewrite it writes the file
// back with the actual outputs instead.
func RunTest(t *testing.T, path string, f func(t *testing.T, d *TestData) string) {
	t.Helper()
	runTest(t, path, f, *rewriteFlag)
}

func runTest(t *testing.T, path string, f func(t *testing.T, d *TestData) string, rewrite bool) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := parse(path, string(src))
	if err != nil {
		t.Fatal(err)
	}
	outputs := make([]string, len(file.cases))
	for i := range file.cases {
		c := &file.cases[i]
		c.data.Rewrite = rewrite
		name := fmt.Sprintf("%d_%s", c.line, c.data.Cmd)
		ok := t.Run(name, func(t *testing.T) {
			out := f(t, &c.data)
			if out != "" && !strings.HasSuffix(out, "\n") {
				out += "\n"
			}
			outputs[i] = out
			if !rewrite && out != c.data.Expected {
				t.Errorf("%s: %s\noutput differs:\n--- expected\n%s--- actual\n%s", c.data.Pos, c.directive, c.data.Expected, out)
			}
		})
		if !ok && rewrite {
			t.Fatalf("%s: the case failed; the file is not rewritten", c.data.Pos)
		}
	}
	if rewrite {
		if err := os.WriteFile(path, []byte(file.rewrite(outputs)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Walk calls f for each file under path (or for path itself when it is a
// file), in lexical order, as a subtest named after the file.
func Walk(t *testing.T, path string, f func(t *testing.T, path string)) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) { f(t, p) })
	}
}
