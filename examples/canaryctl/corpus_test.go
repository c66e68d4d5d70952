package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The documentation corpus is read at test time from the two projects'
// Go modules, downloaded by `go mod download` through the Go module proxy
// (as internal/kubetest does for CRDs); nothing of it is in this
// repository. The versions are pinned so that the counts README.md states
// stay true: argo-rollouts v1.10.2 and flagger v1.36.1 (both Apache-2.0;
// checked with `go list -m -versions`).
var corpusSources = []corpusSource{
	{
		tool: "argo", module: "github.com/argoproj/argo-rollouts", version: "v1.10.2",
		roots: []string{"docs/", "examples/"},
		skip:  []string{"docs/proposals/", "kustomize/rollout-transform", "helm-blue-green/templates"},
		kind:  "Rollout", group: "argoproj.io/",
		templateKinds: []string{"AnalysisTemplate", "ClusterAnalysisTemplate"},
	},
	{
		tool: "flagger", module: "github.com/fluxcd/flagger", version: "v1.36.1",
		roots:         []string{"docs/", "artifacts/examples/", "kustomize/tester", "charts/podinfo"},
		kind:          "Canary",
		group:         "flagger.app/",
		templateKinds: []string{"MetricTemplate"},
	},
}

// corpusSource says where one project's examples are and what to take.
type corpusSource struct {
	tool, module, version string
	roots, skip           []string // path prefixes to read; substrings to leave out
	kind, group           string   // the object imported, and its API group prefix
	templateKinds         []string // analysis templates a page may define apart
}

// corpusRoot is where the corpus is written, under TestMain's temporary
// directory (removed when the tests end).
var corpusRoot string

var (
	corpusOnce sync.Once
	corpusDirs map[string]string // tool → directory of case files
	corpusErr  error
)

// docCorpus returns the directory of the tool's corpus, building the
// whole corpus once. When the modules cannot be downloaded the test is
// skipped on a developer's machine and fails under CI=true.
func docCorpus(t *testing.T, tool string) string {
	t.Helper()
	corpusOnce.Do(func() {
		corpusDirs, corpusErr = buildCorpus(t, corpusRoot)
	})
	if corpusErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("documentation corpus: %v", corpusErr)
		}
		t.Skipf("documentation corpus not available (needs the Go module proxy): %v", corpusErr)
	}
	return corpusDirs[tool]
}

// buildCorpus writes every case of every source under root.
func buildCorpus(t *testing.T, root string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dirs := map[string]string{}
	for _, src := range corpusSources {
		mod, closeZip, err := downloadModule(ctx, src.module, src.version)
		if err != nil {
			return nil, err
		}
		out := filepath.Join(root, src.tool)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return nil, err
		}
		n, unparsed, err := src.collect(mod, out)
		closeZip()
		if err != nil {
			return nil, err
		}
		t.Logf("%s@%s: %d case files, %d blocks with a %s not YAML as published (skipped)", src.module, src.version, n, unparsed, src.kind)
		dirs[src.tool] = out
	}
	return dirs, nil
}

// downloadModule downloads module@version with `go mod download -json`
// and returns the files of the module's zip in the module cache. The zip,
// not the extracted directory, is read: the go command refuses to extract
// a module whose go.mod asks for a newer Go than the one running
// (argo-rollouts v1.10.2 asks for go 1.26.10) yet still downloads its zip
// and names it, which is all the corpus needs (Markdown and YAML files).
func downloadModule(ctx context.Context, module, version string) (fs.FS, func() error, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	runErr := cmd.Run()
	var info struct{ Zip, Error string }
	if err := json.Unmarshal(out.Bytes(), &info); err != nil || info.Zip == "" {
		return nil, nil, fmt.Errorf("go mod download -json %s@%s: %v: %s%s", module, version, runErr, stderr.Bytes(), out.Bytes())
	}
	zr, err := zip.OpenReader(info.Zip)
	if err != nil {
		return nil, nil, fmt.Errorf("go mod download -json %s@%s: %v (%s)", module, version, err, info.Error)
	}
	sub, err := fs.Sub(zr, module+"@"+version)
	if err != nil {
		zr.Close()
		return nil, nil, err
	}
	return sub, zr.Close, nil
}

var (
	sourceFile = regexp.MustCompile(`\.(md|ya?ml)$`)
	// A fenced YAML block of a Markdown page, possibly indented (in a list).
	fencedYAML = regexp.MustCompile("(?ms)^[ \t]*```ya?ml[^\n]*\n(.*?)^[ \t]*```")
	// Lines that elide part of an example: "...", "# ...", "<...>".
	elision = regexp.MustCompile(`(?m)^[ \t]*(\.\.\.|# ?\.\.\.|<[^>]*>)[ \t]*\n`)
	slugger = regexp.MustCompile(`[^a-z0-9]+`)
)

// corpusBlock is one YAML text of a page, with its documents when it
// parses.
type corpusBlock struct {
	text   string
	docs   []corpusDoc
	parsed bool
	note   string
}

// corpusDoc is one YAML mapping document: its node (to write it back in
// its key order) and its value (to read it).
type corpusDoc struct {
	node  *yaml.Node
	value map[string]any
}

func (d corpusDoc) str(keys ...string) string {
	var v any = d.value
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

// collect writes one file per block (or YAML file) holding an object of
// the kind, followed by the templates it names that the same page defines
// in another block; blocks that do not parse even without their elision
// lines are counted, not written.
func (src corpusSource) collect(mod fs.FS, out string) (written, unparsed int, err error) {
	var files []string
	err = fs.WalkDir(mod, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if hasPrefix(rel, src.roots) && sourceFile.MatchString(rel) && !containsAny(rel, src.skip) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	sort.Strings(files)
	unparsedKind := regexp.MustCompile(`(?m)^kind:\s*` + src.kind + `\s*$`)
	for _, f := range files {
		b, err := fs.ReadFile(mod, f)
		if err != nil {
			return 0, 0, err
		}
		text := string(b)
		if !strings.Contains(text, src.kind) {
			continue
		}
		markdown := strings.HasSuffix(f, ".md")
		var texts []string
		if markdown {
			for _, m := range fencedYAML.FindAllStringSubmatch(text, -1) {
				texts = append(texts, dedent(m[1]))
			}
		} else {
			texts = []string{text}
		}
		blocks := make([]corpusBlock, len(texts))
		for i, t := range texts {
			blk := corpusBlock{text: t}
			blk.docs, blk.parsed = parseDocs(t)
			if !blk.parsed {
				if r := elision.ReplaceAllString(t, ""); r != t {
					blk.text, blk.note = r, "; its elision lines (...) removed"
					blk.docs, blk.parsed = parseDocs(r)
				}
			}
			blocks[i] = blk
		}
		templates := map[string]corpusDoc{}
		for _, blk := range blocks {
			for _, d := range blk.docs {
				if name := d.str("metadata", "name"); slices.Contains(src.templateKinds, d.str("kind")) {
					if _, ok := templates[name]; !ok {
						templates[name] = d
					}
				}
			}
		}
		for i, blk := range blocks {
			if !blk.parsed {
				if unparsedKind.MatchString(blk.text) {
					unparsed++
				}
				continue
			}
			var targets []corpusDoc
			defined := map[string]bool{}
			for _, d := range blk.docs {
				if d.str("kind") == src.kind && strings.HasPrefix(d.str("apiVersion"), src.group) {
					targets = append(targets, d)
				}
				if slices.Contains(src.templateKinds, d.str("kind")) {
					defined[d.str("metadata", "name")] = true
				}
			}
			if len(targets) == 0 {
				continue
			}
			var extra []corpusDoc
			for _, tg := range targets {
				for _, r := range templateRefs(tg.value, src.tool) {
					if tp, ok := templates[r]; ok && !defined[r] {
						extra = append(extra, tp)
						defined[r] = true
					}
				}
			}
			slug := strings.Trim(slugger.ReplaceAllString(strings.ToLower(strings.TrimSuffix(f, filepath.Ext(f))), "-"), "-")
			name, where := slug+".yaml", f
			if markdown {
				name, where = fmt.Sprintf("%s-%d.yaml", slug, i+1), fmt.Sprintf("block %d of %s", i+1, f)
			}
			note := blk.note
			if note == "" {
				note = ", unchanged"
			}
			if len(extra) > 0 {
				note += "; the templates it names, from the same page, follow"
			}
			var body strings.Builder
			fmt.Fprintf(&body, "# Source: %s@%s, %s (Apache-2.0).\n# Published text%s.\n", src.module, src.version, where, note)
			body.WriteString(blk.text)
			if !strings.HasSuffix(blk.text, "\n") {
				body.WriteString("\n")
			}
			for _, e := range extra {
				body.WriteString("---\n")
				enc := yaml.NewEncoder(&body)
				enc.SetIndent(2)
				if err := enc.Encode(e.node); err != nil {
					return 0, 0, fmt.Errorf("%s: %v", f, err)
				}
				if err := enc.Close(); err != nil {
					return 0, 0, fmt.Errorf("%s: %v", f, err)
				}
			}
			if err := os.WriteFile(filepath.Join(out, name), []byte(body.String()), 0o644); err != nil {
				return 0, 0, err
			}
			written++
		}
	}
	return written, unparsed, nil
}

// parseDocs returns the mapping documents of a YAML text, and false when
// the text is not YAML.
func parseDocs(text string) ([]corpusDoc, bool) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []corpusDoc
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, true
		}
		if err != nil {
			return nil, false
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, false
		}
		if m, ok := v.(map[string]any); ok {
			docs = append(docs, corpusDoc{node: &n, value: m})
		}
	}
}

// templateRefs lists, sorted, the analysis templates an object names:
// Argo's templateName, Flagger's templateRef.name.
func templateRefs(v any, tool string) []string {
	set := map[string]bool{}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if s, ok := v.(string); ok && tool == "argo" && k == "templateName" {
					set[s] = true
				}
				if m, ok := v.(map[string]any); ok && tool == "flagger" && k == "templateRef" {
					if name, ok := m["name"]; ok {
						set[fmt.Sprint(name)] = true
					}
				}
				walk(v)
			}
		case []any:
			for _, v := range x {
				walk(v)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// dedent removes the leading white space common to every non-blank line,
// and makes blank lines empty (as Python's textwrap.dedent does).
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	prefix, first := "", true
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ws := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			prefix, first = ws, false
			continue
		}
		for !strings.HasPrefix(ws, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			lines[i] = ""
		} else {
			lines[i] = strings.TrimPrefix(l, prefix)
		}
	}
	return strings.Join(lines, "\n")
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func containsAny(s string, subs []string) bool {
	for _, p := range subs {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// TestDedent checks the dedent the corpus builder uses on indented
// fenced blocks.
func TestDedent(t *testing.T) {
	for in, want := range map[string]string{
		"  a:\n    b: 1\n  \n  c: 2\n": "a:\n  b: 1\n\nc: 2\n",
		"\ta: 1\n\t\tb: 2\n":           "a: 1\n\tb: 2\n",
		"a: 1\n  b: 2\n":               "a: 1\n  b: 2\n",
		"    x\n  y\n":                 "  x\ny\n",
	} {
		if got := dedent(in); got != want {
			t.Errorf("dedent(%q) = %q, want %q", in, got, want)
		}
	}
}
