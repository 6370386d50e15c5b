// Package sql embeds the project's own SQL: named queries kept in .sql files
// so they can be read, diffed and run by hand (psql) like any other SQL.
//
// A file holds one or more queries, each introduced by a marker line:
//
//	-- name: EventAppend
//	INSERT INTO hookd_event ...
//
// Query returns one by name. Names are unique across all files.
package sql

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed *.sql
var files embed.FS

var queries = mustParse(files)

// Query returns the SQL named name. It panics for an unknown name: that is a
// programmer error, and every query is exercised by tests.
func Query(name string) string {
	q, ok := queries[name]
	if !ok {
		panic(fmt.Sprintf("sql: no query named %q", name))
	}
	return q
}

// Names lists every query name (for tests).
func Names() []string {
	out := make([]string, 0, len(queries))
	for name := range queries {
		out = append(out, name)
	}
	return out
}

func mustParse(fsys fs.FS) map[string]string {
	out := map[string]string{}
	paths, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		panic(err)
	}
	for _, path := range paths {
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			panic(err)
		}
		var name string
		var body strings.Builder
		flush := func() {
			if name == "" {
				return
			}
			if _, dup := out[name]; dup {
				panic(fmt.Sprintf("sql: query %q defined twice (%s)", name, path))
			}
			out[name] = strings.TrimSpace(body.String())
			body.Reset()
		}
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "-- name:"); ok {
				flush()
				name = strings.TrimSpace(rest)
				continue
			}
			if name != "" {
				body.WriteString(line)
				body.WriteByte('\n')
			}
		}
		flush()
	}
	return out
}
