// Package schematest compiles the repository's JSON Schemas for tests.
package schematest

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Compile compiles a draft 2020-12 schema held in memory, asserting
// formats (date-time and the like), and fails the test if it cannot.
func Compile(t testing.TB, raw []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const url = "mem:///schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return sch
}

// CompileSet compiles the schema named main among files (name → schema),
// which may refer to each other by name, as the tracks list refers to the
// event schema's track.
func CompileSet(t testing.TB, main string, files map[string][]byte) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for name, raw := range files {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("schema %s is not JSON: %v", name, err)
		}
		if err := c.AddResource("mem:///"+name, doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile("mem:///" + main)
	if err != nil {
		t.Fatalf("schema %s does not compile: %v", main, err)
	}
	return sch
}

// Validate checks one JSON document against sch.
func Validate(sch *jsonschema.Schema, doc []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}
