package gar

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// compileSchema compiles raw (a JSON Schema) with the draft 2020-12 rules.
func compileSchema(t *testing.T, name string, raw []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: schema is not JSON: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	url := "mem:///" + name + ".json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("%s: schema does not compile: %v", name, err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, instance string) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(instance)))
	if err != nil {
		t.Fatalf("instance is not JSON: %v\n%s", err, instance)
	}
	return sch.Validate(inst)
}

func TestResponseSchemas(t *testing.T) {
	tests := []struct {
		schema  ResponseSchema
		name    string
		valid   []string
		invalid []string
	}{
		{LocateSchema(), "garssl_locate",
			[]string{`{"bbox":[10,20,100,120],"description":"a dog"}`},
			[]string{`{"bbox":[10,20,100],"description":"a dog"}`, `{"bbox":[10,20,100,120]}`, `{"bbox":[10.5,20,100,120],"description":""}`, `{"bbox":[10,20,100,120],"description":"d","x":1}`}},
		{AudioSchema(), "garssl_audio",
			[]string{`{"audio_class":"violin","audio_confidence_score":0.9}`},
			[]string{`{"audio_class":"violin","audio_confidence_score":1.5}`, `{"audio_class":"","audio_confidence_score":0.5}`, `{"audio_class":"violin","audio_confidence_score":"0.9"}`}},
		{AnalysisSchema(), "garssl_analysis",
			[]string{`{"av_consistency":0.8,"role_tags":["a","b"],"anchor_votes":[{"anchor":"x","score":0.5}],"keep":true}`,
				`{"av_consistency":0,"role_tags":[],"anchor_votes":[],"keep":false}`},
			[]string{`{"av_consistency":0.8,"role_tags":["a","b","c","d","e"],"anchor_votes":[],"keep":true}`,
				`{"av_consistency":0.8,"role_tags":[],"anchor_votes":[],"keep":"false"}`,
				`{"av_consistency":0.8,"role_tags":[],"anchor_votes":[{"anchor":"x"}],"keep":true}`}},
		{RefineSchema(), "garssl_refine",
			[]string{`{"bbox":[1,2,3,4],"changed":false,"ops":null,"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"delta","dx":2},"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"shrink","amount":3},"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"recenter","target":[50,60]},"refined_description":"s"}`},
			[]string{`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"rotate"},"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"expand"},"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"recenter","target":[50]},"refined_description":"s"}`,
				`{"bbox":[1,2,3,4],"changed":true,"refined_description":"s"}`}},
		{LocateMultiSchema(2), "garssl_locate_multi",
			[]string{`{"sources":[{"bbox":[1,2,3,4],"description":"a"},{"bbox":[5,6,7,8],"description":"b"}]}`},
			[]string{`{"sources":[{"bbox":[1,2,3,4],"description":"a"}]}`, `[{"bbox":[1,2,3,4],"description":"a"},{"bbox":[5,6,7,8],"description":"b"}]`}},
		{AudioMultiSchema(2), "garssl_audio_multi",
			[]string{`{"sources":[{"audio_class":"a","audio_confidence_score":1},{"audio_class":"b","audio_confidence_score":0}]}`},
			[]string{`{"sources":[{"audio_class":"a","audio_confidence_score":1},{"audio_class":"b","audio_confidence_score":0},{"audio_class":"c","audio_confidence_score":0}]}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.schema.Name != tt.name {
				t.Errorf("Name = %q, want %q", tt.schema.Name, tt.name)
			}
			sch := compileSchema(t, tt.name, tt.schema.Schema)
			for _, v := range tt.valid {
				if err := validate(t, sch, v); err != nil {
					t.Errorf("valid answer rejected: %s\n%v", v, err)
				}
			}
			for _, v := range tt.invalid {
				if err := validate(t, sch, v); err == nil {
					t.Errorf("invalid answer accepted: %s", v)
				}
			}
		})
	}
}

// Every answer the schema accepts must also be usable by the Go parser,
// since structured output is only a hint to the server.
func TestSchemaValidAnswersParse(t *testing.T) {
	if _, err := ParseLocate(`{"bbox":[10,20,100,120],"description":"a dog"}`, 224, 224); err != nil {
		t.Error(err)
	}
	if _, err := ParseRefine(`{"bbox":[1,2,3,4],"changed":true,"ops":{"type":"recenter","target":[50,60]},"refined_description":"s"}`, 224, 224); err != nil {
		t.Error(err)
	}
	if _, err := ParseLocateMulti(`{"sources":[{"bbox":[1,2,3,4],"description":"a"},{"bbox":[5,6,7,8],"description":"b"}]}`, 224, 224, 2); err != nil {
		t.Error(err)
	}
}

func TestMultiSchemaClampsK(t *testing.T) {
	var s struct {
		Properties struct {
			Sources struct {
				MinItems int `json:"minItems"`
				MaxItems int `json:"maxItems"`
			} `json:"sources"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(LocateMultiSchema(0).Schema, &s); err != nil {
		t.Fatal(err)
	}
	if s.Properties.Sources.MinItems != 1 || s.Properties.Sources.MaxItems != 1 {
		t.Errorf("k=0 gives min/max %d/%d, want 1/1", s.Properties.Sources.MinItems, s.Properties.Sources.MaxItems)
	}
}
