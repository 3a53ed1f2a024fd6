package samples

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Writer appends lines to a samples.jsonl. It is safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// Open reads the samples.jsonl at path (creating it if absent), cuts off a
// half-written last line, completes a missing final newline, and returns a
// Writer that appends after the last complete line together with what the
// file held. The tail that was cut, if any, is in File.Tail.
func Open(path string) (*Writer, File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, File{}, fmt.Errorf("open samples file: %w", err)
	}
	content, err := Read(f, path)
	if err != nil {
		f.Close()
		return nil, content, err
	}
	// Whatever follows the last complete line (a half-written line, stray
	// blanks) goes.
	if err := f.Truncate(content.End); err != nil {
		f.Close()
		return nil, content, fmt.Errorf("cut the half-written last line of %s: %w", path, err)
	}
	if _, err := f.Seek(content.End, 0); err != nil {
		f.Close()
		return nil, content, fmt.Errorf("seek %s: %w", path, err)
	}
	if content.MissingNewline {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			f.Close()
			return nil, content, fmt.Errorf("complete the last line of %s: %w", path, err)
		}
	}
	return &Writer{f: f, path: path}, content, nil
}

// Append writes one line with a single write call.
func (w *Writer) Append(l Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("samples file is closed")
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("append to %s: %w", w.path, err)
	}
	return nil
}

// Close flushes the file to disk and closes it.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.f.Sync(), w.f.Close())
	w.f = nil
	return err
}

// Rewrite replaces the samples.jsonl at path with the records keep accepts,
// through a temporary file renamed over it, so a crash leaves either file
// whole.
func Rewrite(path string, records []Record, keep func(Record) bool) error {
	var buf bytes.Buffer
	for _, r := range records {
		if keep(r) {
			buf.Write(r.Raw)
			buf.WriteByte('\n')
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".samples-*.jsonl")
	if err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}
