package publish

import "strings"

// topics builds the topic names of design §5 under <prefix>/<node>.
type topics struct{ base string }

func newTopics(prefix, node string) topics { return topics{base: prefix + "/" + node} }

func (t topics) status() string                  { return t.base + "/status" }
func (t topics) detections(stream string) string { return t.base + "/" + stream + "/detections" }
func (t topics) state(stream string) string      { return t.base + "/" + stream + "/state" }
func (t topics) events(stream string) string     { return t.base + "/" + stream + "/events" }
func (t topics) tracks(stream string) string     { return t.base + "/" + stream + "/tracks" }
func (t topics) setFilter() string               { return t.base + "/+/set" }
func (t topics) detectionsFilter() string        { return t.base + "/+/detections" }

// isDetections reports whether topic is one of this node's detections
// topics.
func (t topics) isDetections(topic string) bool {
	rest, ok := strings.CutPrefix(topic, t.base+"/")
	if !ok {
		return false
	}
	stream, ok := strings.CutSuffix(rest, "/detections")
	return ok && stream != "" && !strings.Contains(stream, "/")
}

// streamOfSet returns the stream named by a set topic.
func (t topics) streamOfSet(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, t.base+"/")
	if !ok {
		return "", false
	}
	stream, ok := strings.CutSuffix(rest, "/set")
	if !ok || stream == "" || strings.Contains(stream, "/") {
		return "", false
	}
	return stream, true
}

// isLatest reports whether topic carries a retained value whose newest
// version supersedes the older ones: the status, the stream states and
// the streams' track lists.
func (t topics) isLatest(topic string) bool {
	if topic == t.status() {
		return true
	}
	return t.isStreamTopic(topic, "/state") || t.isStreamTopic(topic, "/tracks")
}

// isStreamTopic reports whether topic is <base>/<stream><suffix>.
func (t topics) isStreamTopic(topic, suffix string) bool {
	rest, ok := strings.CutPrefix(topic, t.base+"/")
	if !ok {
		return false
	}
	stream, ok := strings.CutSuffix(rest, suffix)
	return ok && stream != "" && !strings.Contains(stream, "/")
}

// isEvents reports whether topic is a stream's events topic, whatever the
// node: the store sees only topics, and events are never pruned.
func isEvents(topic string) bool { return strings.HasSuffix(topic, "/events") }
