package jobs_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
	"github.com/hookd/hookd/internal/testdb"
)

// The SQL the README's Hooks section tells users to run must run: every
// statement of its ```sql blocks is executed against a database holding a
// hook run.
func TestReadmeHookSQLRuns(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(raw)
	start := strings.Index(readme, "### Inspecting hook runs with SQL")
	require.GreaterOrEqual(t, start, 0, "README lost its hook SQL section")
	section := readme[start:]
	if end := strings.Index(section[1:], "\n### "); end >= 0 {
		section = section[:end+1]
	}
	var statements []string
	for _, block := range strings.Split(section, "```sql\n")[1:] {
		block = block[:strings.Index(block, "```")]
		for _, stmt := range strings.Split(block, ";") {
			var lines []string
			for _, l := range strings.Split(stmt, "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "--") {
					lines = append(lines, l)
				}
			}
			if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
				statements = append(statements, s)
			}
		}
	}
	require.GreaterOrEqual(t, len(statements), 6)

	d := testdb.New(t)
	ctx := context.Background()
	bus := newBus(t, d.Pool, func(r hooks.Registrar, _ *hooks.Context) error {
		r.Action("items.create", func(context.Context, hooks.Meta, hooks.EventContext) error { return nil })
		return nil
	})
	write(t, d.Pool, bus, []string{"items.create"}, []store.EventAppendParams{{
		Name: "items.create", Scope: "items", Action: "create", Collection: "notes", ItemKey: 1}})
	for _, s := range statements {
		rows, err := d.Pool.Query(ctx, s)
		require.NoError(t, err, s)
		rows.Close()
		require.NoError(t, rows.Err(), s)
	}
}
