// Command modproxy writes a file-based Go module proxy (the layout the go
// command reads from GOPROXY=file:///dir, described at
// https://go.dev/ref/mod#goproxy-protocol) holding the given modules of the
// working tree at one version, so that a scratch module can `go get` them
// exactly as a user would, before anything is tagged.
//
// Usage:
//
//	modproxy -out DIR [-version vX.Y.Z] MODDIR...
//
// Each MODDIR is a directory holding a go.mod. The zips are made with
// golang.org/x/mod/zip.CreateFromDir, which applies the go command's own
// rules (nested modules, vendor directories and VCS directories are left
// out). Like the go command when it zips a module in a subdirectory of a
// repository (cmd/go/internal/modfetch/coderepo.go), it adds the
// repository root's LICENSE to a module that has none of its own, so that
// pkg.go.dev finds a license in every module. Without -version, the version is the one every module requires of
// the others; the modules must agree on it. The tool refuses a module with
// replace directives (a published go.mod must not have them: they are
// ignored for users, so a build that needs them is broken for users) and a
// requirement on a module of the repository that is not among MODDIRs. It
// prints the version on standard output.
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// repoPath is the import path prefix of every module of the repository.
const repoPath = "github.com/meshcanary/canary"

type mod struct {
	dir  string
	path string
	data []byte
	file *modfile.File
}

func main() {
	out := flag.String("out", "", "directory to write the proxy into (created; must be empty or absent)")
	version := flag.String("version", "", "version to serve every module at (default: the one the modules require of each other)")
	flag.Parse()
	if err := run(*out, *version, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

func run(out, version string, dirs []string) error {
	if out == "" || len(dirs) == 0 {
		return errors.New("usage: modproxy -out DIR [-version vX.Y.Z] MODDIR [MODDIR]")
	}
	var mods []mod
	paths := map[string]bool{}
	for _, dir := range dirs {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return err
		}
		f, err := modfile.Parse(filepath.Join(dir, "go.mod"), data, nil)
		if err != nil {
			return err
		}
		if f.Module == nil {
			return fmt.Errorf("%s/go.mod: no module line", dir)
		}
		p := f.Module.Mod.Path
		if p != repoPath && !strings.HasPrefix(p, repoPath+"/") {
			return fmt.Errorf("%s/go.mod: module %s is not under %s", dir, p, repoPath)
		}
		if len(f.Replace) > 0 {
			return fmt.Errorf("%s/go.mod: has replace directives; a published go.mod must not (use go.work)", dir)
		}
		if paths[p] {
			return fmt.Errorf("module %s found twice", p)
		}
		paths[p] = true
		mods = append(mods, mod{dir: dir, path: p, data: data, file: f})
	}

	// The version the modules require of each other.
	required := map[string][]string{}
	for _, m := range mods {
		for _, r := range m.file.Require {
			rp := r.Mod.Path
			if rp != repoPath && !strings.HasPrefix(rp, repoPath+"/") {
				continue
			}
			if !paths[rp] {
				return fmt.Errorf("%s/go.mod requires %s, which is not one of the modules given", m.dir, rp)
			}
			required[r.Mod.Version] = append(required[r.Mod.Version], m.path+" → "+rp)
		}
	}
	if version == "" {
		if len(required) != 1 {
			var lines []string
			for v, who := range required {
				lines = append(lines, fmt.Sprintf("%s: %s", v, strings.Join(who, ", ")))
			}
			sort.Strings(lines)
			return fmt.Errorf("the modules must require each other at one version; found %d:\n  %s", len(required), strings.Join(lines, "\n  "))
		}
		for v := range required {
			version = v
		}
	}
	if !strings.HasPrefix(version, "v") || module.Check(repoPath, version) != nil {
		return fmt.Errorf("bad version %q", version)
	}

	if entries, err := os.ReadDir(out); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty", out)
	}
	// The repository root's LICENSE, if the root module is among dirs.
	var license []byte
	for _, m := range mods {
		if m.path == repoPath {
			license, _ = os.ReadFile(filepath.Join(m.dir, "LICENSE"))
		}
	}
	info, _ := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	for _, m := range mods {
		esc, err := module.EscapePath(m.path)
		if err != nil {
			return err
		}
		vdir := filepath.Join(out, filepath.FromSlash(esc), "@v")
		if err := os.MkdirAll(vdir, 0o755); err != nil {
			return err
		}
		mv := module.Version{Path: m.path, Version: version}
		var buf bytes.Buffer
		if err := modzip.CreateFromDir(&buf, mv, m.dir); err != nil {
			return fmt.Errorf("%s: %w", m.dir, err)
		}
		data, err := withLicense(buf.Bytes(), mv, license)
		if err != nil {
			return fmt.Errorf("%s: %w", m.dir, err)
		}
		if err := os.WriteFile(filepath.Join(vdir, version+".zip"), data, 0o644); err != nil {
			return err
		}
		for name, data := range map[string][]byte{
			version + ".mod":  m.data,
			version + ".info": info,
			"list":            []byte(version + "\n"),
		} {
			if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Println(version)
	return nil
}

// withLicense returns the module zip z with license added as LICENSE at the
// module's root if it has no LICENSE there (and license is not empty).
func withLicense(z []byte, m module.Version, license []byte) ([]byte, error) {
	r, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		return nil, err
	}
	prefix := m.Path + "@" + m.Version + "/"
	for _, f := range r.File {
		if f.Name == prefix+"LICENSE" {
			return z, nil
		}
	}
	if len(license) == 0 {
		return z, nil
	}
	var out bytes.Buffer
	w := zip.NewWriter(&out)
	for _, f := range r.File {
		if err := w.Copy(f); err != nil {
			return nil, err
		}
	}
	lw, err := w.Create(prefix + "LICENSE")
	if err != nil {
		return nil, err
	}
	if _, err := lw.Write(license); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
