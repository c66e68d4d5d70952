package datadriven

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// interpret is the little language of testdata/transcript.
func interpret(t *testing.T, d *TestData) string {
	switch d.Cmd {
	case "echo":
		return d.Input
	case "upper":
		var name string
		var n int
		d.ScanArgs(t, "name", &name)
		d.ScanArgs(t, "n", &n)
		return fmt.Sprintf("%s (name=%q, n=%d)", strings.ToUpper(d.Input), name, n)
	case "args":
		var lines []string
		for _, a := range d.CmdArgs {
			lines = append(lines, a.String())
		}
		return strings.Join(lines, "\n")
	case "paragraphs":
		return "first\n\nsecond"
	case "empty":
		return ""
	}
	d.Fatalf(t, "unknown command %q", d.Cmd)
	return ""
}

func TestTranscript(t *testing.T) {
	RunTest(t, "testdata/transcript", interpret)
}

func TestWalk(t *testing.T) {
	var seen []string
	Walk(t, "testdata", func(t *testing.T, path string) {
		seen = append(seen, filepath.Base(path))
		RunTest(t, path, interpret)
	})
	if len(seen) == 0 || seen[0] != "transcript" {
		t.Errorf("walked %v", seen)
	}
}

func TestParse(t *testing.T) {
	src, err := os.ReadFile("testdata/transcript")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parse("transcript", string(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.cases {
		got = append(got, fmt.Sprintf("%s %d %q %q", c.data.Cmd, len(c.data.CmdArgs), c.data.Input, c.data.Expected))
	}
	want := []string{
		`echo 0 "hello\nworld" "hello\nworld\n"`,
		`upper 2 "x" "X (name=\"a b\", n=3)\n"`,
		`args 5 "" "a\nb=c\nd=(e, f, g)\nh=\"i\\\"j\"\nk=l\n"`,
		`paragraphs 0 "" "first\n\nsecond\n"`,
		`empty 0 "" ""`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if f.cases[1].data.Pos != "transcript:9" {
		t.Errorf("Pos = %q", f.cases[1].data.Pos)
	}
}

func TestParseErrors(t *testing.T) {
	for _, src := range []string{
		"cmd\nno separator\n",
		"cmd\n----\n----\nnever closed\n",
		"cmd a=(b\n----\n",
		"cmd a=\"b\n----\n",
		"cmd a=\"b\"c\n----\n",
	} {
		if _, err := parse("f", src); err == nil {
			t.Errorf("parse(%q) accepted", src)
		}
	}
}

// TestRewrite: a file whose expected outputs are wrong, stale or missing
// is rewritten into the checked-in transcript, comments and inputs kept.
func TestRewrite(t *testing.T) {
	golden, err := os.ReadFile("testdata/transcript")
	if err != nil {
		t.Fatal(err)
	}
	stale := strings.NewReplacer(
		"hello\nworld\n\n", "hello\nworld\n\n", // input kept, output below changed
		"----\nhello\nworld\n", "----\nstale\n",
		"X (name=\"a b\", n=3)\n", "",
		"----\n----\nfirst\n\nsecond\n----\n----\n", "----\nold single line\n",
		"empty\n----\n", "empty\n----\nnot empty\n",
	).Replace(string(golden))
	if stale == string(golden) {
		t.Fatal("the stale copy equals the golden file; the test proves nothing")
	}
	path := filepath.Join(t.TempDir(), "transcript")
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := parse(path, stale)
	if err != nil {
		t.Fatal(err)
	}
	differs := 0
	for i := range f.cases {
		out := interpret(t, &f.cases[i].data)
		if out != "" {
			out += "\n"
		}
		if out != f.cases[i].data.Expected {
			differs++
		}
	}
	if differs != 4 {
		t.Errorf("%d cases differ from the stale file, want 4", differs)
	}
	runTest(t, path, interpret, true)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(golden) {
		t.Errorf("rewritten file:\n%s\nwant:\n%s", got, golden)
	}
	// Rewriting an up-to-date file changes nothing.
	runTest(t, path, interpret, true)
	if again, _ := os.ReadFile(path); string(again) != string(golden) {
		t.Errorf("second rewrite changed the file:\n%s", again)
	}
}
