package dataset

import (
	"path"
	"strings"
)

var (
	imageExts = []string{".jpg", ".jpeg", ".png"}
	audioExts = []string{".wav", ".flac", ".mp3", ".m4a", ".ogg"}
)

// FrameNames are the file names, relative to the frames directory, that
// may hold sample id's centre frame, in the order they are tried:
// "<id>.jpg" and "<id>.png", or the id itself when it already ends in an
// image extension.
func (k Kind) FrameNames(id string) []string {
	if hasExt(id, imageExts) {
		return []string{id}
	}
	return []string{id + ".jpg", id + ".png"}
}

// AudioNames are the file names, relative to the audio directory, that may
// hold sample id's sound, in the order they are tried: "<id>" with its
// image extension dropped, then for the MUSIC benchmarks the id without its
// last 10 characters (metrics.md), each with .wav, .flac, .mp3, .m4a, .ogg.
func (k Kind) AudioNames(id string) []string {
	bases := []string{stripExt(id, imageExts)}
	if k.music() && len(id) > 10 {
		bases = append(bases, id[:len(id)-10])
	}
	var out []string
	for _, b := range bases {
		for _, e := range audioExts {
			out = append(out, b+e)
		}
	}
	return out
}

// VideoNames are the file names, relative to the videos directory, that
// may hold sample id's clip: "<id>.mp4", then "<id>.mkv" and "<id>.webm".
func (k Kind) VideoNames(id string) []string {
	base := stripExt(id, imageExts)
	return []string{base + ".mp4", base + ".mkv", base + ".webm"}
}

func hasExt(id string, exts []string) bool {
	ext := strings.ToLower(path.Ext(id))
	for _, e := range exts {
		if ext == e {
			return true
		}
	}
	return false
}

func stripExt(id string, exts []string) string {
	if hasExt(id, exts) {
		return strings.TrimSuffix(id, path.Ext(id))
	}
	return id
}
