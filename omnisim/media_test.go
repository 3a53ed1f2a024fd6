package omnisim

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestImageTokens(t *testing.T) {
	tests := []struct {
		w, h int
		want int
	}{
		{224, 224, 8*8 + 2},     // the paper's input size, about 66 tokens
		{640, 480, 23*17 + 2},   // smart_resize: 644×476
		{28, 28, 1 + 2},         // one patch
		{1, 1, 1 + 2},           // never below one patch
		{42, 70, 2*2 + 2},       // 1.5 and 2.5 round half to even: 2 and 2
		{1280, 720, 46*26 + 2},  // 45.71 → 46, 25.71 → 26
		{448, 224, 16*8 + 2},    // non-square
		{251, 196, 9*7 + 2},     // 8.96 → 9, 7
		{223, 223, 8*8 + 2},     // 7.96 → 8
		{14, 100, 1*4 + 2},      // 0.5 → 0 → at least one patch; 3.57 → 4
		{2000, 10, 71*1 + 2},    // 71.43 → 71
		{84, 98, 3*4 + 2},       // 3 and 3.5 → 4
		{126, 126, 4*4 + 2},     // 4.5 → 4 (even)
		{154, 154, 6*6 + 2},     // 5.5 → 6 (even)
		{560, 420, 20*15 + 2},   // exact multiples
		{1920, 1080, 69*39 + 2}, // 68.57 → 69, 38.57 → 39
	}
	for _, tc := range tests {
		if got := imageTokens(tc.w, tc.h); got != tc.want {
			t.Errorf("imageTokens(%d, %d) = %d, want %d", tc.w, tc.h, got, tc.want)
		}
	}
}

func TestAudioTokens(t *testing.T) {
	tests := []struct {
		name     string
		seconds  float64
		rate     int
		channels int
		want     int
	}{
		{"design window 3 s 16 kHz mono", 3, 16000, 1, 75 + 2},
		{"1 s stereo", 1, 16000, 2, 25 + 2},
		{"half a second rounds up", 0.5, 16000, 1, 13 + 2},
		{"10 ms is one token", 0.01, 16000, 1, 1 + 2},
		{"44.1 kHz 2 s", 2, 44100, 1, 50 + 2},
		{"empty data", 0, 16000, 1, 0 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseWAV(makeWAV(t, tc.seconds, tc.rate, tc.channels))
			if err != nil {
				t.Fatalf("parseWAV: %v", err)
			}
			if got := audioTokens(info); got != tc.want {
				t.Fatalf("audioTokens = %d, want %d (%+v)", got, tc.want, info)
			}
		})
	}
}

func TestParseWAV(t *testing.T) {
	good := makeWAV(t, 1, 16000, 1)
	withList := func() []byte {
		// A LIST chunk of odd size (padded) before fmt, as some writers do.
		var b bytes.Buffer
		b.Write(good[:12])
		b.WriteString("LIST")
		binary.Write(&b, binary.LittleEndian, uint32(3))
		b.Write([]byte{'a', 'b', 'c', 0})
		b.Write(good[12:])
		return b.Bytes()
	}()
	streaming := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(streaming[40:44], 0xFFFFFFFF)

	tests := []struct {
		name      string
		data      []byte
		wantBytes int
		wantErr   bool
	}{
		{"canonical", good, 32000, false},
		{"padded chunk before fmt", withList, 32000, false},
		{"data size past the end is cut", streaming, 32000, false},
		{"truncated data", good[:44+100], 100, false},
		{"empty", nil, 0, true},
		{"not RIFF", append([]byte("RIFX"), good[4:]...), 0, true},
		{"no data chunk", good[:36], 0, true},
		{"short fmt", good[:20], 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := parseWAV(tc.data)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("parseWAV succeeded with %+v, want an error", info)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWAV: %v", err)
			}
			if info.dataBytes != tc.wantBytes || info.sampleRate != 16000 || info.channels != 1 || info.bitsPerSample != 16 {
				t.Fatalf("got %+v, want 16 kHz mono 16-bit with %d data bytes", info, tc.wantBytes)
			}
		})
	}
}

// TestUsageTokens checks the arithmetic end to end: system and text at four
// bytes a token, plus the image and audio counts.
func TestUsageTokens(t *testing.T) {
	_, ts := startServer(t, testConfig())
	system := "0123456789abcdef0123" // 20 bytes: 5 tokens
	text := locatePrompt
	r := post(t, ts.URL, chatOpts{system: system, text: text, image: plainJPEG(t, 224, 224, 0), audio: makeWAV(t, 3, 16000, 1)})
	wantPrompt := 5 + 66 + 77 + (len(text)+3)/4
	u := r.decoded.Usage
	if u.PromptTokens != wantPrompt {
		t.Fatalf("prompt_tokens = %d, want %d", u.PromptTokens, wantPrompt)
	}
	wantCompletion := 0
	for _, c := range r.contents() {
		wantCompletion += (len(c) + 3) / 4
	}
	if u.CompletionTokens != wantCompletion || u.TotalTokens != wantPrompt+wantCompletion {
		t.Fatalf("usage = %+v, want completion %d total %d", u, wantCompletion, wantPrompt+wantCompletion)
	}
}
