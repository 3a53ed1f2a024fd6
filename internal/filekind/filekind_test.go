package filekind

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestOf(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clip.mp4")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path, kind string
		blocks     bool
		lstat      bool
	}{
		{file, "", false, false},
		{dir, "a directory", false, false},
		{fifo, "a named pipe (FIFO)", true, false},
		{link, "a named pipe (FIFO)", true, false}, // Stat follows links
		{link, "a symbolic link", false, true},
		{sock, "a socket", true, false},
		{"/dev/null", "a character device", false, false},
	} {
		stat := os.Stat
		if tt.lstat {
			stat = os.Lstat
		}
		fi, err := stat(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := Of(fi.Mode()); got != tt.kind {
			t.Errorf("Of(%s) = %q, want %q", tt.path, got, tt.kind)
		}
		if got := Blocks(fi.Mode()); got != tt.blocks {
			t.Errorf("Blocks(%s) = %v, want %v", tt.path, got, tt.blocks)
		}
	}
}
