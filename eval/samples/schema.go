package samples

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/garssl/garssld/gar"
)

//go:embed sample.v1.ext.schema.json
var extension []byte

// Schema returns the JSON Schema (draft 2020-12) of a samples.jsonl line:
// gar.DetectionSchema with this package's members, required members and
// conditions added (sample.v1.ext.schema.json) and StatusInputError
// allowed. It is built from the v1 schema at run time, so a v1 change
// carries over.
func Schema() ([]byte, error) {
	var base, ext map[string]any
	if err := json.Unmarshal(gar.DetectionSchema, &base); err != nil {
		return nil, fmt.Errorf("detection schema: %w", err)
	}
	if err := json.Unmarshal(extension, &ext); err != nil {
		return nil, fmt.Errorf("sample schema extension: %w", err)
	}
	for _, k := range []string{"title", "description", "$comment"} {
		if v, ok := ext[k]; ok {
			base[k] = v
		}
	}
	props, ok1 := base["properties"].(map[string]any)
	status, ok2 := props["status"].(map[string]any)
	enum, ok3 := status["enum"].([]any)
	if !ok1 || !ok2 || !ok3 {
		return nil, fmt.Errorf("detection schema: no status enum to extend")
	}
	if !slices.Contains(enum, any(string(StatusInputError))) {
		status["enum"] = append(enum, string(StatusInputError))
	}
	for k, v := range ext["properties"].(map[string]any) {
		if _, clash := props[k]; clash {
			return nil, fmt.Errorf("sample schema extension redefines %q of payload v1", k)
		}
		props[k] = v
	}
	req, _ := base["required"].([]any)
	base["required"] = append(req, ext["required"].([]any)...)
	all, _ := base["allOf"].([]any)
	base["allOf"] = append(all, ext["allOf"].([]any)...)
	defs, _ := base["$defs"].(map[string]any)
	if defs == nil {
		defs = map[string]any{}
		base["$defs"] = defs
	}
	for k, v := range ext["$defs"].(map[string]any) {
		if _, clash := defs[k]; clash {
			return nil, fmt.Errorf("sample schema extension redefines $defs/%s of payload v1", k)
		}
		defs[k] = v
	}
	return json.MarshalIndent(base, "", "  ")
}
