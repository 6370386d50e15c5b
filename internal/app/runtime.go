package app

import (
	"runtime/debug"

	"github.com/hookd/hookd/internal/config"
)

// DefaultGCPercent is the garbage collector's target that TuneRuntime sets
// when GOGC is not in the environment.
const DefaultGCPercent = 400

// TuneRuntime sets the process-wide runtime defaults a hookd server runs
// with, unless the operator set them: GOGC=400 instead of Go's 100. A
// request leaves only short-lived garbage and the live heap is small (a
// schema snapshot, caches, connection buffers), so at Go's default the
// collector runs many times a second under load and its marking costs a
// measurable share of the cores Postgres shares; four times the live heap
// is still a few tens of megabytes. GOMEMLIMIT, when set, still bounds the
// heap. It returns the percent in force.
func TuneRuntime(getenv config.Getenv) int {
	if v, ok := getenv("GOGC"); ok && v != "" {
		// The runtime already applied it at start-up; reading it back
		// reports what is in force.
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(DefaultGCPercent)
	return DefaultGCPercent
}
