// Package docs holds the tests that keep README.md in step with the code:
// the configuration reference against the config decoder and defaults, the
// metrics table against the registered families, the Libraries table
// against go.mod, the Layout against the package directories, the example
// detection against its JSON Schema, and the Python subscriber against a
// real broker.
package docs

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/garssl/garssld/config"
)

// repoRoot is the repository, relative to this package's directory.
const repoRoot = ".."

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section returns the README text from the "## " heading that starts with
// title up to the next "## " heading.
func section(t *testing.T, text, title string) string {
	t.Helper()
	start := -1
	for i := 0; i < len(text); {
		line, _, _ := strings.Cut(text[i:], "\n")
		if strings.HasPrefix(line, "## "+title) {
			start = i
			break
		}
		i += len(line) + 1
	}
	if start < 0 {
		t.Fatalf("README has no section %q", "## "+title)
	}
	rest := text[start+1:]
	if end := strings.Index(rest, "\n## "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// fenced returns the bodies of the code blocks fenced with ```lang in text.
func fenced(text, lang string) []string {
	var blocks []string
	for {
		i := strings.Index(text, "```"+lang+"\n")
		if i < 0 {
			return blocks
		}
		text = text[i+len("```"+lang+"\n"):]
		end := strings.Index(text, "\n```")
		if end < 0 {
			return blocks
		}
		blocks = append(blocks, text[:end+1])
		text = text[end+4:]
	}
}

// tableRows returns the rows of the Markdown tables in text whose first
// cell is a single backticked name, keyed by that name; the value is the
// row's remaining cells.
func tableRows(text string) map[string][]string {
	rows := make(map[string][]string)
	for _, line := range strings.Split(text, "\n") {
		m := tableRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		body := strings.ReplaceAll(strings.TrimSuffix(m[2], "|"), `\|`, "\x00")
		cells := strings.Split(body, "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(strings.ReplaceAll(cells[i], "\x00", "|"))
		}
		rows[m[1]] = cells
	}
	return rows
}

// tableRowOf returns the row of rows named name, which must have the
// given cells after the name; it reports a missing or malformed row.
func tableRowOf(t *testing.T, rows map[string][]string, table, name string, cells ...string) ([]string, bool) {
	t.Helper()
	row, ok := rows[name]
	switch {
	case !ok:
		t.Errorf("README's %s has no row for %s", table, name)
	case len(row) != len(cells):
		t.Errorf("README's %s row %s has %d cells after the name, want %d (%s)", table, name, len(row), len(cells), strings.Join(cells, ", "))
		ok = false
	}
	return row, ok
}

var tableRow = regexp.MustCompile("^\\| `([A-Za-z0-9_.-]+)` \\|(.*)$")

// configAttributes asks the config decoder which attributes it accepts,
// block by block: an unknown attribute or block is an error that lists the
// valid names (config's documented behaviour), so a probe in every body
// lists them all. Paths join block types with "."; a labelled block (a
// stream) is probed with a label, which the path leaves out.
func configAttributes(t *testing.T) []string {
	t.Helper()
	var attrs []string
	var probe func(blocks []string, labelled []bool)
	probe = func(blocks []string, labelled []bool) {
		attrNames, blockNames, needsLabel := probeBody(t, blocks, labelled)
		if needsLabel {
			labelled[len(labelled)-1] = true
			attrNames, blockNames, needsLabel = probeBody(t, blocks, labelled)
			if needsLabel {
				t.Fatalf("probing %q: the decoder wants a label even with one", blocks)
			}
		}
		prefix := strings.Join(blocks, ".")
		for _, a := range attrNames {
			attrs = append(attrs, strings.TrimPrefix(prefix+"."+a, "."))
		}
		for _, b := range blockNames {
			probe(append(slices.Clone(blocks), b), append(slices.Clone(labelled), false))
		}
	}
	probe(nil, nil)
	slices.Sort(attrs)
	return attrs
}

const (
	probeAttr  = "zz_probe_attr"
	probeBlock = "zz_probe_block"
)

// probeBody parses a config whose innermost block (blocks, outermost first;
// labelled[i] gives block i the label "probe") holds an unknown attribute
// and an unknown block, and returns the valid names the decoder lists. It
// reports needsLabel when the innermost block was refused for want of a
// label.
func probeBody(t *testing.T, blocks []string, labelled []bool) (attrs, nested []string, needsLabel bool) {
	t.Helper()
	var src strings.Builder
	for i, b := range blocks {
		src.WriteString(b)
		if labelled[i] {
			src.WriteString(` "probe"`)
		}
		src.WriteString(" {\n")
	}
	src.WriteString(probeAttr + " = 1\n" + probeBlock + " {\n}\n")
	src.WriteString(strings.Repeat("}\n", len(blocks)))

	_, err := config.Parse([]byte(src.String()), "probe.hcl", config.SkipFileChecks())
	var diags config.Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("probing %q: want config.Diagnostics, got %v\n%s", blocks, err, src.String())
	}
	var sawAttr, sawBlock bool
	for _, d := range diags {
		switch {
		case strings.Contains(d.Message, "takes exactly one label"):
			return nil, nil, true
		case strings.HasPrefix(d.Message, `unknown attribute "`+probeAttr+`"`):
			sawAttr = true
			attrs = validNames(t, d.Message)
		case strings.HasPrefix(d.Message, `unknown block "`+probeBlock+`"`):
			sawBlock = true
			if !strings.Contains(d.Message, "no blocks are valid here") {
				nested = validNames(t, d.Message)
			}
		}
	}
	if !sawAttr || !sawBlock {
		t.Fatalf("probing %q: the decoder did not list the valid names (has its message changed?):\n%s", blocks, diags.Error())
	}
	return attrs, nested, false
}

// validNames reads "…; valid: a, b, c[; did you mean …]".
func validNames(t *testing.T, msg string) []string {
	t.Helper()
	_, list, ok := strings.Cut(msg, "; valid: ")
	if !ok {
		t.Fatalf("no valid names in %q", msg)
	}
	list, _, _ = strings.Cut(list, "; did you mean")
	if strings.TrimSpace(list) == "" {
		return nil
	}
	return strings.Split(list, ", ")
}

// defaultValues renders config.Default, with a stream, a camera, a
// mic_array and a TLS block so that every attribute is printed, and returns each attribute's
// value as HCL text, keyed by the same paths as configAttributes.
func defaultValues(t *testing.T) map[string]string {
	t.Helper()
	c := config.Default()
	c.MQTT.TLS = &config.TLS{}
	s := config.DefaultStream()
	s.Name = "NAME"
	s.Camera = &config.Camera{}
	m := config.DefaultMicArray()
	s.MicArray = &m
	c.Streams = []config.Stream{s}

	values := make(map[string]string)
	var stack []string
	for _, line := range strings.Split(c.String(), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case line == "}":
			stack = stack[:len(stack)-1]
		case strings.HasSuffix(line, "{") && !strings.Contains(line, "="):
			typ, _, _ := strings.Cut(line, " ")
			stack = append(stack, typ)
		default:
			name, value, ok := strings.Cut(line, " = ")
			if !ok {
				t.Fatalf("config.String line %q is neither a block nor an attribute", line)
			}
			values[strings.Join(append(slices.Clone(stack), name), ".")] = value
		}
	}
	return values
}

// derivedDefaults are defaults that depend on the machine or on another
// attribute, or that a block requires when present; the README describes
// them in words.
var derivedDefaults = map[string]bool{
	"node_id":                true, // the host name
	"mqtt.client_id":         true, // garssld-<node_id>
	"stream.camera.hfov_deg": true, // required in a camera block
	// Required in a mic_array block, and the channels follow them.
	"stream.mic_array.positions": true,
	"stream.mic_array.channels":  true,
}

func TestReadmeConfigReference(t *testing.T) {
	attrs := configAttributes(t)
	// The probe must find what the decoder is known to accept, or it proves
	// nothing.
	for _, known := range []string{"node_id", "mllm.breaker.open_for", "mqtt.tls.key_file", "stream.window", "stream.camera.hfov_deg"} {
		if !slices.Contains(attrs, known) {
			t.Fatalf("the probe of the config decoder missed %s; found %q", known, attrs)
		}
	}

	rows := tableRows(section(t, readme(t), "Configuration reference"))
	defaults := defaultValues(t)
	for _, path := range attrs {
		row, ok := tableRowOf(t, rows, "configuration reference", path, "default", "type", "valid values")
		if !ok {
			continue
		}
		value, printed := defaults[path]
		if !printed {
			continue // config.String does not write it (yet); nothing to compare
		}
		cell := row[0]
		if derivedDefaults[path] {
			continue
		}
		if lit, ok := leadingLiteral(cell); ok {
			if lit != value {
				t.Errorf("README says %s defaults to %s; config.Default has %s", path, lit, value)
			}
			continue
		}
		if value != `""` && value != "{}" {
			t.Errorf("README describes the default of %s in words (%q); config.Default has %s, write it as `%s`", path, cell, value, value)
		}
	}
}

// leadingLiteral returns the backticked literal a cell starts with.
func leadingLiteral(cell string) (string, bool) {
	if !strings.HasPrefix(cell, "`") {
		return "", false
	}
	lit, _, ok := strings.Cut(cell[1:], "`")
	return lit, ok
}
