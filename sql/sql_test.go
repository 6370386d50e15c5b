package sql

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func TestEveryQueryIsNonEmpty(t *testing.T) {
	t.Parallel()
	require.NotEmpty(t, Names())
	for _, name := range Names() {
		require.NotEmpty(t, Query(name), name)
	}
}

func TestParseSplitsOnMarkers(t *testing.T) {
	t.Parallel()
	got := mustParse(fstest.MapFS{"a.sql": {Data: []byte("-- header ignored\n-- name: One\nSELECT 1;\n\n-- name: Two\n-- a comment kept\nSELECT 2;\n")}})
	require.Equal(t, map[string]string{"One": "SELECT 1;", "Two": "-- a comment kept\nSELECT 2;"}, got)
}

func TestDuplicateNamesPanic(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() {
		mustParse(fstest.MapFS{"a.sql": {Data: []byte("-- name: X\nSELECT 1;")}, "b.sql": {Data: []byte("-- name: X\nSELECT 2;")}})
	})
	require.Panics(t, func() { Query("NoSuchQuery") })
}

// The Go fmt templates format cleanly with the arguments their callers
// pass (internal/store): a stray % in a comment would otherwise reach
// Postgres as "%!" and fail every statement built from the template.
func TestTemplatesFormatCleanly(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"EventAppendWithWrite", "EventAppendWithInsert", "EventAppendWithInsertOne"} {
		got := fmt.Sprintf(Query(name), "INSERT INTO t DEFAULT VALUES RETURNING 1", 1, 2, 3, 4, 5, 6, 7)
		require.NotContains(t, got, "%!", name)
		require.Contains(t, got, "$7", name)
	}
	for _, name := range []string{"EventAppendWithInsertJobs", "EventAppendWithInsertOneJobs"} {
		got := fmt.Sprintf(Query(name)+"\n"+Query("ActionJobsForEvents"), "INSERT INTO t DEFAULT VALUES RETURNING 1",
			1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
		require.NotContains(t, got, "%!", name)
		require.Contains(t, got, "$12", name)
	}
}
