//go:build race

package doa_test

// raceEnabled thins the scene tables: the race detector slows the
// room's rendering several times and these tests share no memory.
const raceEnabled = true
