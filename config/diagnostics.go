package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Diagnostic is one problem found in a configuration.
type Diagnostic struct {
	// Filename is the config file, or the command-line flag ("--model-size")
	// when the value came from an override. Empty for configs built in code.
	Filename string

	// Line and Column (1-based) locate the offending attribute value or
	// block; both are 0 when there is no source position.
	Line, Column int

	// Message says what is wrong and what would be valid. It never
	// contains secrets.
	Message string
}

// String renders the diagnostic as "file:line:col: message", dropping the
// parts that are unknown.
func (d Diagnostic) String() string {
	switch {
	case d.Filename != "" && d.Line > 0:
		return fmt.Sprintf("%s:%d:%d: %s", d.Filename, d.Line, d.Column, d.Message)
	case d.Filename != "":
		return d.Filename + ": " + d.Message
	default:
		return d.Message
	}
}

// Diagnostics is the error returned for an invalid configuration: every
// problem found, ordered by position.
type Diagnostics []Diagnostic

// MaxShown is how many diagnostics Error lists; the rest are counted. A
// file that is badly wrong (a binary, another format) would otherwise bury
// the first problems under thousands of lines.
const MaxShown = 20

// Error joins the first MaxShown rendered diagnostics, one per line, and
// says how many more there are.
func (ds Diagnostics) Error() string {
	if len(ds) <= MaxShown {
		return strings.Join(ds.Lines(), "\n")
	}
	shown := ds[:MaxShown].Lines()
	return strings.Join(shown, "\n") + fmt.Sprintf("\n… and %d more problems (%d in all)", len(ds)-MaxShown, len(ds))
}

// Lines returns each diagnostic rendered as "file:line:col: message".
func (ds Diagnostics) Lines() []string {
	lines := make([]string, len(ds))
	for i, d := range ds {
		lines[i] = d.String()
	}
	return lines
}

// diagAt builds a diagnostic located at the start of r.
func diagAt(r hcl.Range, format string, args ...any) Diagnostic {
	return Diagnostic{
		Filename: r.Filename,
		Line:     r.Start.Line,
		Column:   r.Start.Column,
		Message:  fmt.Sprintf(format, args...),
	}
}

// fromHCL converts HCL's own diagnostics (syntax errors, attributes set
// twice). Warnings are dropped: a config either loads or it does not.
func fromHCL(hd hcl.Diagnostics) Diagnostics {
	var ds Diagnostics
	for _, d := range hd {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		var r hcl.Range
		if d.Subject != nil {
			r = *d.Subject
		}
		ds = append(ds, diagAt(r, "%s", msg))
	}
	return ds
}

// sorted orders diagnostics by file and position; diagnostics at the same
// position keep the order they were found in.
func (ds Diagnostics) sorted() Diagnostics {
	slices.SortStableFunc(ds, func(a, b Diagnostic) int {
		if c := strings.Compare(a.Filename, b.Filename); c != 0 {
			return c
		}
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
	return ds
}

// errOrNil returns ds sorted and without repeats (a flag that is wrong for
// every stream is reported once) as an error, or nil when it is empty, so
// that a nil Diagnostics never hides inside a non-nil error interface.
func (ds Diagnostics) errOrNil() error {
	if len(ds) == 0 {
		return nil
	}
	seen := make(map[Diagnostic]bool, len(ds))
	unique := ds[:0:0]
	for _, d := range ds.sorted() {
		if !seen[d] {
			seen[d] = true
			unique = append(unique, d)
		}
	}
	return unique
}
