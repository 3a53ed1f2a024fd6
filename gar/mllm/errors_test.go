package mllm

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorMessage(t *testing.T) {
	long := strings.Repeat("é", maxErrorMessage) // two bytes per rune
	tests := []struct {
		name, body, want string
	}{
		{"vLLM", `{"object":"error","message":"n must be at most 4","type":"BadRequestError","code":400}`, "n must be at most 4"},
		{"llama.cpp", `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`, "Loading model"},
		{"flat error string", `{"error":"model not found"}`, "model not found"},
		{"html", "<html>\n<body>502 Bad Gateway</body>\n</html>\n", "<html> <body>502 Bad Gateway</body> </html>"},
		{"empty", "", ""},
		{"invalid utf-8", "bad \xff byte", "bad \uFFFD byte"},
		{"long", long, strings.Repeat("é", maxErrorMessage/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := errorMessage([]byte(tt.body))
			if got != tt.want {
				t.Errorf("errorMessage = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("invalid UTF-8: %q", got)
			}
		})
	}
}
