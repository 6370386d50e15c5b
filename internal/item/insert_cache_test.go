package item

import (
	"strconv"
	"testing"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/store"
)

func TestInsertCacheKeepsStatementsPerSchemaSnapshot(t *testing.T) {
	var c insertCache
	builds := 0
	build := func() *store.ItemInsert {
		builds++
		return store.NewItemInsert(`INSERT INTO t (a) VALUES ($1) RETURNING to_jsonb(id) AS hookd_key, to_jsonb(t.*) AS hookd_new`, 1, 1, false)
	}
	first, second := &hooks.Schema{}, &hooks.Schema{}
	key := insertKey{shape: "t\x00a", rows: 1}

	a := c.get(first, key, build)
	if b := c.get(first, key, build); b != a || builds != 1 {
		t.Fatalf("same snapshot and key: built %d times, same statement %t; want 1, true", builds, b == a)
	}
	if c.get(first, insertKey{shape: "t\x00a", rows: 1, jobs: true}, build); builds != 2 {
		t.Fatalf("another key reused a statement: %d builds, want 2", builds)
	}
	if b := c.get(second, key, build); b == a || builds != 3 {
		t.Fatalf("a new snapshot reused the old snapshot's statement (builds %d)", builds)
	}
	if c.get(second, key, build); builds != 3 {
		t.Fatalf("the new snapshot's statement was not kept: %d builds, want 3", builds)
	}
	big := insertKey{shape: "t\x00a", rows: maxCachedRows + 1}
	c.get(second, big, build)
	c.get(second, big, build)
	if builds != 5 {
		t.Fatalf("a batch over maxCachedRows was kept: %d builds, want 5", builds)
	}
	for i := range maxCachedInserts { // one is already kept: the last one overflows
		c.get(second, insertKey{shape: "t\x00" + strconv.Itoa(i), rows: 1}, build)
		if len(c.stmts) > maxCachedInserts {
			t.Fatalf("cache holds %d statements, over its bound %d", len(c.stmts), maxCachedInserts)
		}
	}
	if len(c.stmts) != 1 {
		t.Fatalf("a full cache did not start over: %d statements after the one past the bound, want 1", len(c.stmts))
	}
}
