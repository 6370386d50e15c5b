package app_test

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/internal/app"
)

func TestTuneRuntime(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })

	unset := func(string) (string, bool) { return "", false }
	require.Equal(t, app.DefaultGCPercent, app.TuneRuntime(unset))
	require.Equal(t, app.DefaultGCPercent, debug.SetGCPercent(app.DefaultGCPercent))

	// An operator's GOGC is left as the runtime applied it.
	debug.SetGCPercent(150)
	set := func(k string) (string, bool) { return "150", k == "GOGC" }
	require.Equal(t, 150, app.TuneRuntime(set))
	require.Equal(t, 150, debug.SetGCPercent(150))
}
