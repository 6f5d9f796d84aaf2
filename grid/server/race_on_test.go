//go:build race

package server

// raceEnabled: the race detector is on, under which sync.Pool drops objects at random
// (so a path that reuses pooled buffers allocates now and then).
const raceEnabled = true
