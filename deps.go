//go:build deps

// This file pins the stack's libraries that no package imports yet, so that
// go.mod and go.sum record the versions the design settled on (see README,
// "Dependencies"). Remove a line once real code imports the module.
package deps

import (
	// Logical-replication capture of writes made outside the API (DESIGN.md,
	// "Capture modes"): not built yet.
	_ "github.com/jackc/pglogrepl"
)
