package metrics

import "github.com/prometheus/client_golang/prometheus"

// MQTT implements the publisher's Observer (publish.Observer). Get it from
// Metrics.MQTT.
type MQTT struct {
	published *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	pending   prometheus.Gauge
	connected prometheus.Gauge
	commands  *prometheus.CounterVec
	changes   prometheus.Counter
	unconfirm prometheus.Counter
}

func newMQTT(b *builder) *MQTT {
	o := &MQTT{
		published: b.counterVec("mqtt_messages_published_total",
			"MQTT messages the broker acknowledged (at QoS 0: handed to the network), by kind (detection, state, status, event, tracks).",
			"kind"),
		dropped: b.counterVec("mqtt_messages_dropped_total",
			"MQTT detections given up, by reason (max_pending, expired, store_error, publish_error, shutdown, too_large).",
			"reason"),
		pending: b.gauge("mqtt_pending_messages",
			"MQTT detections queued or in the file store and not yet acknowledged by the broker."),
		connected: b.gauge("mqtt_connected",
			"1 while the MQTT client is connected to the broker, else 0."),
		commands: b.counterVec("mqtt_commands_total",
			"Messages received on <stream>/set topics, by result (received, ignored_retained, malformed, unknown_stream).",
			"result"),
		changes: b.counter("mqtt_command_changes_total",
			"Set commands that paused or resumed a stream; the latest per stream is applied, at most once a second."),
		unconfirm: b.counter("mqtt_unconfirmed_total",
			"Published detections that did not come back on garssld's own subscription within mqtt.confirm_within."),
	}
	for _, k := range mqttKinds {
		o.published.WithLabelValues(k)
	}
	for _, r := range mqttDropReasons {
		o.dropped.WithLabelValues(r)
	}
	for _, r := range mqttCommandResults {
		o.commands.WithLabelValues(r)
	}
	return o
}

// Published counts one message of kind handed to the client library.
func (o *MQTT) Published(kind string) { o.published.WithLabelValues(kind).Inc() }

// Dropped counts one message given up for reason.
func (o *MQTT) Dropped(reason string) { o.dropped.WithLabelValues(reason).Inc() }

// Pending reports how many messages are outstanding.
func (o *MQTT) Pending(n int) { o.pending.Set(float64(n)) }

// Connected reports whether the client is connected to the broker.
func (o *MQTT) Connected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	o.connected.Set(v)
}

// Command counts one message received on a set topic, by result.
func (o *MQTT) Command(result string) { o.commands.WithLabelValues(result).Inc() }

// CommandChanged counts one set command that paused or resumed a stream.
func (o *MQTT) CommandChanged() { o.changes.Inc() }

// Unconfirmed counts one detection the broker did not echo in time.
func (o *MQTT) Unconfirmed() { o.unconfirm.Inc() }
