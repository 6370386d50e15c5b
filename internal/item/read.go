package item

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
	"github.com/hookd/hookd/internal/store"
)

// ReadResult is what a read returns: the items (or aggregate rows) as JSON
// documents and the meta counts the query asked for (nil when none).
type ReadResult struct {
	// Docs are the items as Postgres rendered them, or as the items.read
	// filters left them. Never nil.
	Docs []json.RawMessage
	Meta map[string]any
}

// Items decodes Docs (numbers stay exact, as json.Number).
func (r *ReadResult) Items() ([]hooks.Item, error) {
	items := make([]hooks.Item, len(r.Docs))
	for i, doc := range r.Docs {
		var err error
		if items[i], err = decodeItem(doc); err != nil {
			return nil, err
		}
	}
	return items, nil
}

// ReadByQuery returns the items q selects that the caller may read, with
// the fields it may read.
func (it *Items) ReadByQuery(ctx context.Context, q *hooks.Query) ([]hooks.Item, error) {
	res, err := it.Read(ctx, q)
	if err != nil {
		return nil, err
	}
	return res.Items()
}

// ReadByQueryWithMeta is ReadByQuery that also returns the meta counts the
// query asked for (nil when it asked for none): a realtime subscription's
// init carries them, as Directus's does.
func (it *Items) ReadByQueryWithMeta(ctx context.Context, q *hooks.Query) ([]hooks.Item, map[string]any, error) {
	res, err := it.Read(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	items, err := res.Items()
	return items, res.Meta, err
}

// ReadOne returns one item; a missing item and one the caller may not read
// are both 403 FORBIDDEN, so neither reveals whether the key exists.
func (it *Items) ReadOne(ctx context.Context, key any, q *hooks.Query) (hooks.Item, error) {
	items, err := it.ReadMany(ctx, []any{key}, q)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, hooks.Forbidden()
	}
	return items[0], nil
}

// ReadMany returns the items among keys that the caller may read (missing
// and hidden ones are left out), in q's sort order.
func (it *Items) ReadMany(ctx context.Context, keys []any, q *hooks.Query) ([]hooks.Item, error) {
	ck, _ := coerceKeys(it.pk(), keys)
	if len(ck) == 0 {
		// Still subject to the read permission: no permission is 403 even
		// for keys that cannot exist.
		if _, err := it.access(ctx, "read"); err != nil {
			return nil, err
		}
		return []hooks.Item{}, nil
	}
	var qq hooks.Query
	if q != nil {
		qq = *q
	}
	if qq.Limit == nil {
		all := -1
		qq.Limit = &all
	}
	res, err := it.read(ctx, &qq, ck)
	if err != nil {
		return nil, err
	}
	return res.Items()
}

// Read runs q (fields, filter, search, sort, limit/offset/page, meta,
// aggregate with groupBy) and returns its items and meta counts.
func (it *Items) Read(ctx context.Context, q *hooks.Query) (*ReadResult, error) {
	return it.read(ctx, q, nil)
}

// read is Read restricted to keys when keys is non-nil. The key restriction
// joins the item rule rather than the filter, so it works even when the
// caller may not read the primary key field.
func (it *Items) read(ctx context.Context, q *hooks.Query, keys []any) (*ReadResult, error) {
	a, err := it.access(ctx, "read")
	if err != nil {
		return nil, err
	}
	if q == nil {
		q = &hooks.Query{}
	}
	names := it.eventNames("query")
	db := it.queryDB()
	ec := it.eventContext(db)
	if h := it.svc.cfg.Hooks; h != nil && it.hooked(kindFilter, names) {
		out, err := h.Filter(ctx, names, q, hooks.Meta{Collection: it.coll.Name}, ec)
		if err != nil {
			return nil, err
		}
		switch x := out.(type) {
		case *hooks.Query:
			if x != nil {
				q = x
			}
		case hooks.Query:
			q = &x
		default:
			return nil, fmt.Errorf("items.query filter returned %T, want *hooks.Query", out)
		}
	}
	o := it.queryOptions(a)
	if keys != nil {
		keyRule := map[string]any{it.coll.PrimaryKey: map[string]any{"_in": keys}}
		if o.Permission != nil {
			o.Permission = map[string]any{"_and": []any{o.Permission, keyRule}}
		} else {
			o.Permission = keyRule
		}
	}

	var stmt *query.Statement
	if len(q.Aggregate) > 0 || len(q.GroupBy) > 0 {
		stmt, err = query.Aggregate(it.coll, q, o)
	} else {
		stmt, err = query.Select(it.coll, q, o)
	}
	if err != nil {
		return nil, err
	}
	docs, err := store.ItemsJSON(ctx, db, stmt.SQL, stmt.Args...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", it.coll.Name, err)
	}
	res := &ReadResult{Docs: docs}
	if res.Docs == nil {
		res.Docs = []json.RawMessage{}
	}
	if res.Meta, err = it.meta(ctx, db, q, o); err != nil {
		return nil, err
	}

	// Decoding the rows only pays when a hook will see them.
	readNames := it.eventNames("read")
	if it.hooked(kindFilter, readNames) || it.hooked(kindAction, readNames) {
		h := it.svc.cfg.Hooks
		items, err := res.Items()
		if err != nil {
			return nil, err
		}
		meta := hooks.Meta{Collection: it.coll.Name, Query: q}
		out, err := h.Filter(ctx, readNames, items, meta, ec)
		if err != nil {
			return nil, err
		}
		if items, err = asItems(out); err != nil {
			return nil, fmt.Errorf("items.read filter: %w", err)
		}
		res.Docs = make([]json.RawMessage, len(items))
		for i, item := range items {
			if res.Docs[i], err = json.Marshal(item); err != nil {
				return nil, fmt.Errorf("items.read filter returned an item that is not JSON: %w", err)
			}
		}
		meta.Payload = items
		h.Emit(ctx, readNames, meta, ec)
	}
	return res, nil
}

// meta computes the counts q.Meta asks for: total_count (every item the
// caller may read) and filter_count (those matching filter and search).
func (it *Items) meta(ctx context.Context, db store.Querier, q *hooks.Query, o *query.Options) (map[string]any, error) {
	return query.MetaCounts(it.coll, q, o, func(stmt *query.Statement) (int64, error) {
		var n int64
		if err := store.ItemsScalar(ctx, db, &n, stmt.SQL, stmt.Args...); err != nil {
			return 0, fmt.Errorf("counting %s: %w", it.coll.Name, err)
		}
		return n, nil
	})
}

// keysByQuery selects the keys of the items q selects within a's rule
// (update/delete by query), inside tx.
func (it *Items) keysByQuery(ctx context.Context, tx store.Querier, a *access, q *hooks.Query) ([]any, error) {
	var qq hooks.Query
	if q != nil {
		qq = *q
	}
	qq.Meta, qq.Aggregate, qq.GroupBy = nil, nil, nil
	o := it.queryOptions(a)
	stmt, err := query.Keys(it.coll, &qq, o)
	if err != nil {
		return nil, err
	}
	docs, err := store.ItemsJSON(ctx, tx, "SELECT to_jsonb(hookd_keys.k) FROM ("+stmt.SQL+") AS hookd_keys(k)",
		stmt.Args...)
	if err != nil {
		return nil, fmt.Errorf("selecting keys of %s: %w", it.coll.Name, err)
	}
	keys := make([]any, len(docs))
	for i, doc := range docs {
		if keys[i], err = keyFromJSON(it.pk(), doc); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// queryDB is where reads run: the bound transaction or the pool.
func (it *Items) queryDB() hooks.DB {
	if it.db != nil {
		return it.db
	}
	return it.svc.cfg.Pool
}

// asItems accepts what an items.read filter may return.
func asItems(v any) ([]hooks.Item, error) {
	switch x := v.(type) {
	case []hooks.Item:
		return x, nil
	case nil:
		return []hooks.Item{}, nil
	case []any:
		out := make([]hooks.Item, len(x))
		for i, el := range x {
			m, ok := el.(hooks.Item)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, want an item", i, el)
			}
			out[i] = m
		}
		return out, nil
	}
	return nil, fmt.Errorf("returned %T, want an array of items", v)
}
