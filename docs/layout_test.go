package docs

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goPackageDirs lists the repository's directories that hold Go files,
// relative to the root, leaving out test data, build output and hidden
// directories.
func goPackageDirs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != repoRoot && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			rel, err := filepath.Rel(repoRoot, filepath.Dir(path))
			if err != nil {
				return err
			}
			seen[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for d := range seen {
		if d != "." {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	return dirs
}

func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	dirs := goPackageDirs(t)
	if !slices.Contains(dirs, "gar/mllm") || !slices.Contains(dirs, "docs") {
		t.Fatalf("the walk missed known packages: %q", dirs)
	}
	layout := section(t, readme(t), "Layout")
	for _, d := range dirs {
		// "gar/" must not be satisfied by "gar/mllm/", nor "omnisim/" by
		// "cmd/omnisim/".
		named := regexp.MustCompile(`(^|[^A-Za-z0-9_/])` + regexp.QuoteMeta(d+"/") + `($|[^A-Za-z0-9_])`)
		if !named.MatchString(layout) {
			t.Errorf("README's Layout does not name the package %s/", d)
		}
	}
}

// directRequires reads the modules go.mod requires without "// indirect".
func directRequires(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			inBlock = true
			continue
		case inBlock && line == ")":
			inBlock = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !inBlock:
			continue
		}
		if line == "" || strings.HasPrefix(line, "//") || strings.Contains(line, "// indirect") {
			continue
		}
		mod, _, _ := strings.Cut(line, " ")
		mods = append(mods, mod)
	}
	return mods
}

// modulePath finds module paths in Libraries table cells.
var modulePath = regexp.MustCompile(`\b(?:github\.com|golang\.org|gonum\.org|go\.uber\.org|google\.golang\.org|gopkg\.in)/[A-Za-z0-9_.\-/]+`)

func TestReadmeLibrariesNameEveryDirectRequire(t *testing.T) {
	mods := directRequires(t)
	if !slices.Contains(mods, "github.com/asticode/go-astiav") {
		t.Fatalf("go.mod parse missed go-astiav: %q", mods)
	}
	libraries := section(t, readme(t), "Libraries")
	var named []string
	for _, line := range strings.Split(libraries, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " | ")
		for _, m := range modulePath.FindAllString(first, -1) {
			named = append(named, strings.TrimRight(m, "/."))
		}
	}
	for _, m := range mods {
		if !slices.Contains(named, m) {
			t.Errorf("README's Libraries table does not name %s, which go.mod requires directly", m)
		}
	}
	for _, n := range named {
		if !slices.Contains(mods, n) {
			t.Errorf("README's Libraries table names %s, which go.mod does not require directly", n)
		}
	}
}

// The stages after capture pass plain Go values (package media) around, so
// they build and test without FFmpeg: on a machine without the -dev
// packages, and in CGO_ENABLED=0 tools.
func TestStagesAfterCaptureNeedNoCgo(t *testing.T) {
	for _, pkg := range []string{"media", "windowing", "schedule", "eval", "track"} {
		t.Run(pkg, func(t *testing.T) {
			list := exec.Command("go", "list", "-deps", "./"+pkg)
			list.Dir = repoRoot
			out, err := list.CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps ./%s: %v\n%s", pkg, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == "github.com/garssl/garssld/capture" || strings.HasPrefix(dep, "github.com/asticode/") {
					t.Errorf("%s depends on %s; keep FFmpeg inside capture and pass media values", pkg, dep)
				}
			}
			build := exec.Command("go", "build", "-o", os.DevNull, "./"+pkg)
			build.Dir = repoRoot
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Errorf("CGO_ENABLED=0 go build ./%s: %v\n%s", pkg, err, out)
			}
		})
	}
}
