// Package daemon wires garssld's packages together and owns their
// lifetimes: capture → windowing → gar → publish, with the config, signals,
// sd_notify and the HTTP endpoints around them. It holds no business logic.
package daemon
