package gar

import "encoding/json"

// ResponseSchema is a named JSON Schema for the nested response_format form
// {"type":"json_schema","json_schema":{"name":Name,"schema":Schema}}.
// Schema is shared: callers must not modify it.
type ResponseSchema struct {
	Name   string
	Schema json.RawMessage
}

// The single-source schemas do not depend on configuration and are built
// once.
var (
	locateSchema   = ResponseSchema{Name: "garssl_locate", Schema: mustJSON(locateShape())}
	audioSchema    = ResponseSchema{Name: "garssl_audio", Schema: mustJSON(audioShape())}
	analysisSchema = ResponseSchema{Name: "garssl_analysis", Schema: mustJSON(analysisShape())}
	refineSchema   = ResponseSchema{Name: "garssl_refine", Schema: mustJSON(refineShape())}
)

// LocateSchema is the response schema of the locate stage.
func LocateSchema() ResponseSchema { return locateSchema }

// AudioSchema is the response schema of the audio stage.
func AudioSchema() ResponseSchema { return audioSchema }

// AnalysisSchema is the response schema of an analysis trial (single and
// multi-source alike).
func AnalysisSchema() ResponseSchema { return analysisSchema }

// RefineSchema is the response schema of the refinement stage (single and
// multi-source alike).
func RefineSchema() ResponseSchema { return refineSchema }

// LocateMultiSchema is the locate schema for k sources (exactly k entries).
// It is built on each call; callers build it once per configuration. k < 1
// is treated as 1.
func LocateMultiSchema(k int) ResponseSchema {
	return ResponseSchema{Name: "garssl_locate_multi", Schema: mustJSON(sourcesShape(locateShape(), k))}
}

// AudioMultiSchema is the audio schema for k sources (exactly k entries).
func AudioMultiSchema(k int) ResponseSchema {
	return ResponseSchema{Name: "garssl_audio_multi", Schema: mustJSON(sourcesShape(audioShape(), k))}
}

type object = map[string]any

func closedObject(props object, required ...string) object {
	return object{"type": "object", "properties": props, "required": required, "additionalProperties": false}
}

func boxShape() object {
	return object{"type": "array", "items": object{"type": "integer", "minimum": 0}, "minItems": 4, "maxItems": 4}
}

func unitShape() object { return object{"type": "number", "minimum": 0, "maximum": 1} }

func locateShape() object {
	return closedObject(object{
		"bbox":        boxShape(),
		"description": object{"type": "string"},
	}, "bbox", "description")
}

func audioShape() object {
	return closedObject(object{
		"audio_class":            object{"type": "string", "minLength": 1},
		"audio_confidence_score": unitShape(),
	}, "audio_class", "audio_confidence_score")
}

func analysisShape() object {
	vote := closedObject(object{
		"anchor": object{"type": "string", "minLength": 1},
		"score":  unitShape(),
	}, "anchor", "score")
	return closedObject(object{
		"av_consistency": unitShape(),
		"role_tags":      object{"type": "array", "items": object{"type": "string"}, "maxItems": maxRoleTags},
		"anchor_votes":   object{"type": "array", "items": vote, "maxItems": maxAnchors},
		"keep":           object{"type": "boolean"},
	}, "av_consistency", "role_tags", "anchor_votes", "keep")
}

func refineShape() object {
	num := object{"type": "number"}
	delta := closedObject(object{
		"type": object{"const": OpDelta},
		"dx":   num, "dy": num, "dl": num, "dt": num, "dr": num, "db": num,
	}, "type")
	resize := closedObject(object{
		"type":   object{"enum": []string{OpExpand, OpShrink}},
		"amount": object{"type": "number", "minimum": 0},
	}, "type", "amount")
	recenter := closedObject(object{
		"type":   object{"const": OpRecenter},
		"target": object{"type": "array", "items": num, "minItems": 2, "maxItems": 2},
	}, "type", "target")
	return closedObject(object{
		"bbox":                boxShape(),
		"changed":             object{"type": "boolean"},
		"ops":                 object{"anyOf": []any{object{"type": "null"}, delta, resize, recenter}},
		"refined_description": object{"type": "string"},
	}, "bbox", "changed", "ops", "refined_description")
}

func sourcesShape(item object, k int) object {
	k = max(k, 1)
	return closedObject(object{
		"sources": object{"type": "array", "items": item, "minItems": k, "maxItems": k},
	}, "sources")
}

// mustJSON marshals a schema literal built from maps, strings and ints,
// which cannot fail.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("gar: schema literal does not marshal: " + err.Error())
	}
	return b
}
