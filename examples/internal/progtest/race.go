//go:build race

package progtest

// raceEnabled: the test binary runs with the race detector, and so do the
// programs it builds.
const raceEnabled = true
