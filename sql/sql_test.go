package sql

import (
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
