//go:build !race

package doa_test

const raceEnabled = false
