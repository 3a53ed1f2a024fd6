// Package health serves garssld's HTTP endpoints on http.listen
// (127.0.0.1:9464 by default): /metrics (Prometheus, from the injected
// registry), /healthz (the process is alive: no registered loop hung) and
// /readyz (it is doing its job: MQTT connected, at least one stream
// running, and a model endpoint that is neither behind an open breaker nor
// refusing every request). Both health endpoints answer 200 or 503 with a
// JSON body that says why, which `garssld status` prints.
//
// Liveness and readiness are kept apart on purpose: a restart fixes a hung
// loop, so that fails /healthz and stops the systemd watchdog; a restart
// does not fix a dead camera, broker or model server, so those only fail
// /readyz.
package health
