package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is the repository, where the example configs live.
var repoRoot string

// fixtureDir holds the media files the test configs name as inputs
// ("a.mp4", "clips/dog.mp4"), because inputs that are local files must
// exist. Tests that parse such configs run there (inFixture).
var fixtureDir string

// inFixture makes t run in fixtureDir.
func inFixture(t *testing.T) { t.Chdir(fixtureDir) }

func TestMain(m *testing.M) {
	os.Exit(runInFixture(m))
}

func runInFixture(m *testing.M) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = filepath.Dir(wd)
	dir, err := os.MkdirTemp("", "garssl-config-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"a.mp4", "b.mp4", "c.mp4", "clip.mp4", "clips/dog.mp4", "x"} {
		p := filepath.Join(dir, name)
		err := os.MkdirAll(filepath.Dir(p), 0o755)
		if err == nil {
			err = os.WriteFile(p, []byte("not media; only its existence is checked\n"), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fixtureDir = dir
	return m.Run()
}
