//go:build !race

package progtest

const raceEnabled = false
