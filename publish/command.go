package publish

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxCommandBytes bounds a set command; {"enabled":false} is 17 bytes.
const maxCommandBytes = 1024

// Command is the payload of …/<stream>/set: {"enabled": false|true}.
type Command struct {
	Enabled bool
}

// ParseCommand decodes a set command. It accepts exactly one JSON object
// with a boolean "enabled" member and nothing else, so that a typo such as
// {"enable": false} is reported instead of silently resuming a stream.
func ParseCommand(payload []byte) (Command, error) {
	if len(payload) > maxCommandBytes {
		return Command{}, fmt.Errorf("command is %d bytes; a set command is {\"enabled\": false} or {\"enabled\": true}", len(payload))
	}
	var raw struct {
		Enabled *bool `json:"enabled"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return Command{}, fmt.Errorf("command is not {\"enabled\": false|true}: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Command{}, errors.New("command has data after its JSON object")
	}
	if raw.Enabled == nil {
		return Command{}, errors.New(`command lacks "enabled"; send {"enabled": false} or {"enabled": true}`)
	}
	return Command{Enabled: *raw.Enabled}, nil
}
