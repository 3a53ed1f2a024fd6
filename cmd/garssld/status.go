package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/garssl/garssld/config"
	"github.com/garssl/garssld/health"
)

// defaultConfigPath is where the packaged unit reads its config; status
// looks there when given neither --config nor --http.
const defaultConfigPath = "/etc/garssl/garssld.hcl"

// statusNow is the clock result ages are measured against; tests fix it.
var statusNow = time.Now

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "read http.listen from this config file (default "+defaultConfigPath+" if it exists)")
	httpAddr := fs.String("http", "", "address of the daemon's HTTP listener, host:port or URL (default 127.0.0.1:9464)")
	timeout := fs.Duration("timeout", 5*time.Second, "give up on the daemon after this long")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cfgPath != "" && *httpAddr != "" {
		return usagef("give --config or --http, not both")
	}
	if *timeout <= 0 {
		return usagef("--timeout %s must be positive", *timeout)
	}
	base, where, err := statusTarget(*cfgPath, *httpAddr)
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	client := &http.Client{}
	var rep health.Report
	if err := fetchStatus(ctx, client, base+health.PathReadyz, "application/json", func(r io.Reader) (err error) {
		rep, err = decodeReport(r)
		return err
	}); errors.Is(err, errNotGarssld) {
		return fmt.Errorf("%s (%s) answers, but not as garssld: %w; is http.listen right?", base, where, err)
	} else if err != nil {
		return fmt.Errorf("garssld is not reachable at %s (%s): %w; is it running? (systemctl status garssld)", base, where, err)
	}
	var live health.Liveness
	if err := fetchStatus(ctx, client, base+health.PathHealthz, "application/json", func(r io.Reader) error {
		return json.NewDecoder(r).Decode(&live)
	}); err != nil {
		return fmt.Errorf("garssld at %s (%s) answered /readyz but not /healthz: %w", base, where, err)
	}
	var metrics metricSet
	if err := fetchStatus(ctx, client, base+health.PathMetrics, "text/plain;version=0.0.4", func(r io.Reader) (err error) {
		metrics, err = decodeMetrics(r)
		return err
	}); err != nil {
		return fmt.Errorf("garssld at %s (%s) answered /readyz but not /metrics: %w", base, where, err)
	}
	printStatus(stdout, base, statusView{rep, live, metrics}, statusNow())
	return nil
}

// statusTarget works out the daemon's base URL and says where it came from.
func statusTarget(cfgPath, httpAddr string) (base, where string, err error) {
	switch {
	case httpAddr != "":
		base, err := baseURL(httpAddr)
		return base, "--http", err
	case cfgPath == "":
		if _, err := os.Stat(defaultConfigPath); errors.Is(err, fs.ErrNotExist) {
			base, err := baseURL(config.Default().HTTP.Listen)
			return base, "the default http.listen; " + defaultConfigPath + " does not exist", err
		}
		cfgPath = defaultConfigPath
	}
	// Only http.listen matters here: key files may be readable by the
	// daemon's user alone.
	cfg, err := config.LoadFile(cfgPath, config.SkipFileChecks())
	if err != nil {
		return "", "", usageError{fmt.Sprintf("%s: %v", cfgPath, err)}
	}
	base, err = baseURL(cfg.HTTP.Listen)
	return base, "http.listen in " + cfgPath, err
}

// baseURL turns a listen address or URL into the URL to query; a wildcard
// host is reached on loopback.
func baseURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", usagef("--http %q is not an http:// URL or host:port", addr)
		}
		return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usagef("%q is not a host:port address: %v", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// errNotGarssld: the server answered something garssld does not say.
var errNotGarssld = errors.New("not garssld's answer")

func fetchStatus(ctx context.Context, client *http.Client, url, accept string, decode func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// /readyz answers 503 with the same body when not ready.
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("GET %s: %s: %w", url, resp.Status, errNotGarssld)
	}
	if err := decode(io.LimitReader(resp.Body, 64<<20)); err != nil {
		return fmt.Errorf("GET %s: %w: %w", url, errNotGarssld, err)
	}
	return nil
}

func decodeReport(r io.Reader) (health.Report, error) {
	var rep health.Report
	err := json.NewDecoder(r).Decode(&rep)
	return rep, err
}

// decodeMetrics parses the text exposition format.
func decodeMetrics(r io.Reader) (metricSet, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	return metricSet(fams), err
}

// metricSet indexes scraped samples for printing.
type metricSet map[string]*dto.MetricFamily

// byLabel sums family name's samples per value of label.
func (m metricSet) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, s := range m[name].GetMetric() {
		v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] += v
			}
		}
	}
	return out
}

// value sums family name's samples.
func (m metricSet) value(name string) float64 {
	total := 0.0
	for _, s := range m[name].GetMetric() {
		total += s.GetCounter().GetValue() + s.GetGauge().GetValue() + s.GetUntyped().GetValue()
	}
	return total
}

// label returns label's value on family name's first sample.
func (m metricSet) label(name, label string) string {
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				return l.GetValue()
			}
		}
	}
	return ""
}

// statusView is what the daemon answered.
type statusView struct {
	rep  health.Report
	live health.Liveness
	m    metricSet
}

func printStatus(w io.Writer, base string, v statusView, now time.Time) {
	rep, m := v.rep, v.m
	version := m.label("garssl_build_info", "version")
	if version == "" {
		version = "(version unknown)"
	}
	fmt.Fprintf(w, "garssld %s at %s: ", shown(version), base)
	if rep.Ready {
		fmt.Fprintln(w, "ready")
	} else {
		fmt.Fprintln(w, "NOT READY")
		for _, r := range rep.Reasons {
			fmt.Fprintf(w, "  - %s\n", shown(r))
		}
	}
	for _, warning := range rep.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", shown(warning))
	}
	if !v.live.Alive {
		fmt.Fprintln(w, "HUNG: these loops stopped making progress; systemd's watchdog will restart garssld")
		for _, h := range v.live.Hung {
			fmt.Fprintf(w, "  - %s\n", shown(h))
		}
	}

	mqtt := "disconnected"
	if rep.MQTT.Connected {
		mqtt = "connected"
	}
	fmt.Fprintf(w, "\nMQTT: %s, %.0f messages pending, %.0f dropped since start\n", mqtt,
		m.value("garssl_mqtt_pending_messages"), m.value("garssl_mqtt_messages_dropped_total"))

	states := map[string]string{}
	for name, state := range rep.Streams {
		states[name] = state
	}
	lastResult := m.byLabel("garssl_last_result_timestamp_seconds", "stream")
	windows := m.byLabel("garssl_windows_total", "stream")
	drops := m.byLabel("garssl_windows_dropped_total", "stream")
	reconnects := m.byLabel("garssl_capture_reconnects_total", "stream")
	tracks := m.byLabel("garssl_tracks_active", "stream")
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "\nStreams:")
	if len(names) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  STREAM\tSTATE\tLAST RESULT\tRESULTS\tDROPPED\tRECONNECTS\tTRACKS")
		for _, name := range names {
			last := "never"
			if ts, ok := lastResult[name]; ok && ts > 0 {
				last = ago(now.Sub(time.Unix(0, int64(ts*1e9))))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\n", shown(name), shown(states[name]), last, windows[name], drops[name], reconnects[name], tracks[name])
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nModel endpoints:")
	if len(rep.Endpoints) == 0 {
		fmt.Fprintln(w, "  none reported")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  ENDPOINT\tBREAKER\t4XX IN A ROW")
	for _, e := range rep.Endpoints {
		note := ""
		if e.Refusing {
			note = "  refusing requests"
		}
		if e.Problem != "" {
			note += "  misconfigured: " + shown(e.Problem)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d%s\n", shown(e.Name), shown(e.Breaker), e.Consecutive4xx, note)
	}
	tw.Flush()
}

// shown quotes text from the daemon that holds control characters, so
// that a broken or hostile server cannot drive the operator's terminal.
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// ago renders an age for a person: tenths of a second under a minute.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "just now" // the clocks of two hosts disagree
	case d < time.Minute:
		return d.Round(100*time.Millisecond).String() + " ago"
	default:
		return d.Round(time.Second).String() + " ago"
	}
}
