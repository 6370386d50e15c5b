package item

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
	"github.com/hookd/hookd/internal/store"
)

// CreateOne creates one item and returns its key.
func (it *Items) CreateOne(ctx context.Context, data hooks.Item) (any, error) {
	keys, err := it.CreateMany(ctx, []hooks.Item{data})
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// CreateMany creates items in one transaction: one items.create filter and
// one action per item (Directus's bulk semantics), one event per item.
func (it *Items) CreateMany(ctx context.Context, data []hooks.Item) ([]any, error) {
	keys, _, err := it.create(ctx, data)
	return keys, err
}

// CreateOneRead creates one item and returns its key and the item as the
// caller reads it with q (the REST answer to POST). The item is nil when the
// caller may not read it (REST answers 204); the item stays created.
func (it *Items) CreateOneRead(ctx context.Context, data hooks.Item, q *hooks.Query) (any, hooks.Item, error) {
	key, image, item, err := it.createOneRead(ctx, data, q)
	if err != nil || image == nil {
		return key, item, err
	}
	if item, err = decodeItem(image); err != nil {
		return nil, nil, err
	}
	return key, item, nil
}

// CreateOneDoc is CreateOneRead with the item as a JSON document (nil when
// the caller may not read it): when the insert's own row image is the
// answer, it is passed on as Postgres rendered it, neither decoded nor
// encoded again.
func (it *Items) CreateOneDoc(ctx context.Context, data hooks.Item, q *hooks.Query) (any, json.RawMessage, error) {
	key, image, item, err := it.createOneRead(ctx, data, q)
	if err != nil || image != nil || item == nil {
		return key, image, err
	}
	if image, err = json.Marshal(item); err != nil {
		return nil, nil, fmt.Errorf("encoding the created item: %w", err)
	}
	return key, image, nil
}

// createOneRead creates one item and returns its key and either the
// insert's row image (when that is the caller's answer) or the item as read
// back; both are nil when the caller may not read it.
func (it *Items) createOneRead(ctx context.Context, data hooks.Item, q *hooks.Query) (any, json.RawMessage, hooks.Item, error) {
	keys, images, err := it.create(ctx, []hooks.Item{data})
	if err != nil {
		return nil, nil, nil, err
	}
	// The insert returned the whole new row: an admin or system caller
	// asking for every field, with no read hooks to run, gets it without a
	// second query (what ReadOne would return, since both come from
	// Postgres's JSON rendering of the same row).
	if (it.acc == nil || it.acc.Admin) && wholeItem(q) && !it.hooked(kindFilter, it.eventNames("query")) &&
		!it.hooked(kindFilter, it.eventNames("read")) && !it.hooked(kindAction, it.eventNames("read")) {
		return keys[0], images[0], nil, nil
	}
	item, err := it.ReadOne(ctx, keys[0], q)
	if he, ok := hooks.AsError(err); ok && he.Code == "FORBIDDEN" {
		return keys[0], nil, nil, nil
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return keys[0], nil, item, nil
}

// wholeItem reports whether q asks for nothing but all fields.
func wholeItem(q *hooks.Query) bool {
	if q == nil {
		return true
	}
	allFields := len(q.Fields) == 0 || len(q.Fields) == 1 && q.Fields[0] == "*"
	return allFields && len(q.Filter) == 0 && q.Search == nil && len(q.Aggregate) == 0 && len(q.GroupBy) == 0 &&
		(q.Offset == nil || *q.Offset == 0) && (q.Page == nil || *q.Page <= 1) && (q.Limit == nil || *q.Limit != 0)
}

// create writes data and returns the keys and the new row images.
func (it *Items) create(ctx context.Context, data []hooks.Item) ([]any, []json.RawMessage, error) {
	a, err := it.access(ctx, "create")
	if err != nil {
		return nil, nil, err
	}
	names := it.eventNames("create")
	// One create with nothing to check after the write: its filters (if
	// any) run first, and unless they used their transaction the create
	// joins the group commit (batch.go).
	if it.db == nil && len(data) == 1 && a.rule() == nil && a.validation() == nil {
		c, err := it.createOne(ctx, a, names, data[0])
		if err != nil {
			return nil, nil, err
		}
		return []any{c.key}, []json.RawMessage{c.image}, nil
	}
	var done []*created
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		done = make([]*created, 0, len(data))
		for _, item := range data {
			c, err := it.createItem(ctx, tx, a, names, item)
			if err != nil {
				return nil, err
			}
			done = append(done, c)
		}
		return it.finishCreates(ctx, tx, a, names, done)
	})
	if err != nil {
		return nil, nil, err
	}
	keys := make([]any, len(done))
	images := make([]json.RawMessage, len(done))
	for i, c := range done {
		keys[i], images[i] = c.key, c.image
	}
	return keys, images, nil
}

// createOne is a single create whose caller's permission has no item rule
// or validation, on the service's own transactions. Its filters run in a
// pipelined transaction whose BEGIN waits for a first statement. When they
// used it (a write, a read, a nested service call), the create finishes in
// that transaction, so what they wrote shares its fate. When they did not,
// nothing was sent: the connection goes back and the create, filtered,
// joins the group commit (batch.go), which writes it in one statement with
// others of its shape, their events and, when action hooks watch the
// collection, all their jobs in the same transaction. Filters run once
// either way: a shared statement that fails is replayed without them.
func (it *Items) createOne(ctx context.Context, a *access, names []string, item hooks.Item) (*created, error) {
	payload := item
	if it.hooked(kindFilter, names) {
		tx, err := beginPipelined(ctx, it.svc.cfg.Pool)
		if err != nil {
			return nil, fmt.Errorf("beginning transaction: %w", store.Translate(err))
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op once committed or released
		if payload, err = it.filter(ctx, tx, names, item, hooks.Meta{Collection: it.coll.Name}); err != nil {
			return nil, err
		}
		if !tx.untouched() {
			var c *created
			err := it.runTx(ctx, tx, false, func(tx pgx.Tx) ([]int64, error) {
				var err error
				if c, err = it.insertItem(ctx, tx, a, payload); err != nil {
					return nil, err
				}
				return it.finishCreates(ctx, tx, a, names, []*created{c})
			})
			if err != nil {
				return nil, err
			}
			return c, nil
		}
		_ = tx.Rollback(ctx) // nothing was sent: gives the connection back
	}
	payload, cols, vals, err := it.checkCreate(a, payload)
	if err != nil {
		return nil, err
	}
	return it.createShort(ctx, cols, vals, payload)
}

// finishCreates checks the created rows and enqueues their actions in tx;
// it returns their event ids.
func (it *Items) finishCreates(ctx context.Context, tx pgx.Tx, a *access, names []string, created []*created) ([]int64, error) {
	keys := make([]any, len(created))
	for i, c := range created {
		keys[i] = c.key
	}
	if err := it.checkWritten(ctx, tx, a, a.rule(), keys); err != nil {
		return nil, err
	}
	return it.enqueueCreated(ctx, tx, names, created)
}

// enqueueCreated enqueues the actions of each created item in tx (one meta
// per item: its key, its payload after filters and presets, its event) and
// returns their event ids.
func (it *Items) enqueueCreated(ctx context.Context, tx pgx.Tx, names []string, created []*created) ([]int64, error) {
	ids := make([]int64, len(created))
	metas := make([]hooks.Meta, len(created))
	for i, c := range created {
		ids[i] = c.eventID
		metas[i] = hooks.Meta{Collection: it.coll.Name, Key: c.key, Payload: c.payload, EventIDs: []int64{c.eventID}}
	}
	if err := it.enqueueMany(ctx, tx, names, metas); err != nil {
		return nil, err
	}
	return ids, nil
}

// checkCreate checks a create's payload against the collection and the
// caller's fields, merges the presets and coerces the values.
func (it *Items) checkCreate(a *access, payload hooks.Item) (hooks.Item, []string, []any, error) {
	if payload == nil {
		payload = hooks.Item{}
	}
	cols, vals, err := it.checkPayload(a, payload)
	if err != nil {
		return nil, nil, nil, err
	}
	if withPresets := a.withPresets(payload, it.vars()); len(withPresets) != len(payload) {
		// Presets added columns the caller did not send; they are the
		// permission's own, so they need no field check.
		payload = withPresets
		if cols, vals, err = it.checkPayload(&access{full: true}, payload); err != nil {
			return nil, nil, nil, err
		}
	}
	return payload, cols, vals, nil
}

// created is one item written by createItem.
type created struct {
	key     any
	payload hooks.Item
	image   json.RawMessage
	eventID int64
}

// createItem filters, checks and inserts one item with its event in tx.
func (it *Items) createItem(ctx context.Context, tx pgx.Tx, a *access, names []string, item hooks.Item) (*created, error) {
	payload, err := it.filter(ctx, tx, names, item, hooks.Meta{Collection: it.coll.Name})
	if err != nil {
		return nil, err
	}
	return it.insertItem(ctx, tx, a, payload)
}

// insertItem checks and inserts one filtered item with its event in tx:
// the group commit's statement (insertMany) with one row.
func (it *Items) insertItem(ctx context.Context, tx pgx.Tx, a *access, payload hooks.Item) (*created, error) {
	payload, cols, vals, err := it.checkCreate(a, payload)
	if err != nil {
		return nil, err
	}
	out, _, err := it.insertMany(ctx, tx, shapeKey(it.coll.Name, cols), cols,
		[]*pendingCreate{{vals: vals, payload: payload, acc: it.acc}}, nil)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// UpdateOne updates one item and returns its key.
func (it *Items) UpdateOne(ctx context.Context, key any, data hooks.Item) (any, error) {
	keys, err := it.UpdateMany(ctx, []any{key}, data)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, hooks.Forbidden()
	}
	return keys[0], nil
}

// accessKeys is the caller's access for an action on the items in keys,
// and the keys coerced to the primary key's type. For a non-admin caller a
// key that cannot be one (so names no item it may touch) is 403 FORBIDDEN.
func (it *Items) accessKeys(ctx context.Context, action string, keys []any) (*access, []any, error) {
	a, err := it.access(ctx, action)
	if err != nil {
		return nil, nil, err
	}
	ck, dropped := coerceKeys(it.pk(), keys)
	if dropped && !a.full {
		return nil, nil, hooks.Forbidden()
	}
	return a, ck, nil
}

// UpdateMany applies data to every item in keys: one items.update filter
// and one action for all keys, one event per key. For a non-admin caller a
// key that does not exist or lies outside the update rule is 403 FORBIDDEN
// and nothing is updated.
func (it *Items) UpdateMany(ctx context.Context, keys []any, data hooks.Item) ([]any, error) {
	a, ck, err := it.accessKeys(ctx, "update", keys)
	if err != nil {
		return nil, err
	}
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		return it.updateTx(ctx, tx, a, ck, data, !a.full)
	})
	if err != nil {
		return nil, err
	}
	return ck, nil
}

// UpdateByQuery updates the items q selects (its filter, search, sort and
// limit, within the caller's update rule) and returns their keys. Items
// outside the rule are simply not selected.
func (it *Items) UpdateByQuery(ctx context.Context, q *hooks.Query, data hooks.Item) ([]any, error) {
	a, err := it.access(ctx, "update")
	if err != nil {
		return nil, err
	}
	var keys []any
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		if keys, err = it.keysByQuery(ctx, tx, a, q); err != nil {
			return nil, err
		}
		return it.updateTx(ctx, tx, a, keys, data, false)
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// UpdateBatch updates each item (which must carry its key) with its own
// filter, action and event, all in one transaction.
func (it *Items) UpdateBatch(ctx context.Context, data []hooks.Item) ([]any, error) {
	a, err := it.access(ctx, "update")
	if err != nil {
		return nil, err
	}
	pk := it.pk()
	keys := make([]any, len(data))
	for i, item := range data {
		raw, ok := item[pk.Name]
		if !ok {
			return nil, hooks.InvalidPayload(fmt.Sprintf("Item %d lacks its primary key %q", i, pk.Name))
		}
		k, ok := coerceKey(pk, raw)
		if !ok {
			return nil, hooks.Forbidden()
		}
		keys[i] = k
	}
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		var all []int64
		for i, item := range data {
			partial := make(hooks.Item, len(item))
			for k, v := range item {
				if k != pk.Name {
					partial[k] = v
				}
			}
			ids, err := it.updateTx(ctx, tx, a, keys[i:i+1], partial, true)
			if err != nil {
				return nil, err
			}
			all = append(all, ids...)
		}
		return all, nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// updateTx is one update call inside tx: filter, checks, UPDATE … RETURNING
// old and new images, events, one action enqueue for all keys. strict makes
// a key that is missing or outside the rule 403 FORBIDDEN.
func (it *Items) updateTx(ctx context.Context, tx pgx.Tx, a *access, keys []any, data hooks.Item, strict bool) ([]int64, error) {
	names := it.eventNames("update")
	payload, err := it.filter(ctx, tx, names, data, hooks.Meta{Collection: it.coll.Name, Keys: keys})
	if err != nil {
		return nil, err
	}
	if _, _, err := it.checkPayload(a, payload); err != nil {
		return nil, err
	}
	payload = a.withPresets(payload, it.vars())
	if _, ok := payload[it.pk().Name]; ok {
		return nil, hooks.InvalidPayload(fmt.Sprintf("The primary key %q cannot be changed", it.pk().Name))
	}
	cols, vals, err := it.checkPayload(&access{full: true}, payload)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	sql, args, err := it.updateSQL(a, cols, vals, keys)
	if err != nil {
		return nil, err
	}
	rows, ids, err := store.ItemWriteWithEventsTx(ctx, tx, sql, args, it.eventFor("update", payload))
	if err != nil {
		return nil, fmt.Errorf("updating %s: %w", it.coll.Name, err)
	}
	if strict && len(rows) != len(keys) {
		return nil, hooks.Forbidden()
	}
	affected := make([]any, len(rows))
	for i, row := range rows {
		if affected[i], err = keyFromJSON(it.pk(), row.Key); err != nil {
			return nil, err
		}
	}
	if err := it.checkWritten(ctx, tx, a, a.rule(), affected); err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		meta := hooks.Meta{Collection: it.coll.Name, Keys: affected, Payload: payload, EventIDs: ids}
		if err := it.enqueue(ctx, tx, names, meta); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// DeleteOne deletes one item and returns its key.
func (it *Items) DeleteOne(ctx context.Context, key any) (any, error) {
	keys, err := it.DeleteMany(ctx, []any{key})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, hooks.Forbidden()
	}
	return keys[0], nil
}

// DeleteMany deletes the items in keys: one items.delete filter (payload =
// the keys) and one action, one event per key with the old row image. For a
// non-admin caller a key that does not exist or lies outside the delete rule
// is 403 FORBIDDEN and nothing is deleted.
func (it *Items) DeleteMany(ctx context.Context, keys []any) ([]any, error) {
	a, ck, err := it.accessKeys(ctx, "delete", keys)
	if err != nil {
		return nil, err
	}
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		var ids []int64
		ids, ck, err = it.deleteTx(ctx, tx, a, ck, !a.full)
		return ids, err
	})
	if err != nil {
		return nil, err
	}
	return ck, nil
}

// DeleteByQuery deletes the items q selects within the caller's delete
// rule and returns their keys.
func (it *Items) DeleteByQuery(ctx context.Context, q *hooks.Query) ([]any, error) {
	a, err := it.access(ctx, "delete")
	if err != nil {
		return nil, err
	}
	var keys []any
	err = it.inTx(ctx, func(tx pgx.Tx) ([]int64, error) {
		if keys, err = it.keysByQuery(ctx, tx, a, q); err != nil {
			return nil, err
		}
		var ids []int64
		ids, keys, err = it.deleteTx(ctx, tx, a, keys, false)
		return ids, err
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

func (it *Items) deleteTx(ctx context.Context, tx pgx.Tx, a *access, keys []any, strict bool) ([]int64, []any, error) {
	names := it.eventNames("delete")
	out, err := it.filterPayload(ctx, tx, names, keys, hooks.Meta{Collection: it.coll.Name})
	if err != nil {
		return nil, nil, err
	}
	// A filter may change the keys; they are the payload.
	list, ok := out.([]any)
	if !ok {
		return nil, nil, fmt.Errorf("items.delete filter returned %T, want the array of keys", out)
	}
	var dropped bool
	if keys, dropped = coerceKeys(it.pk(), list); dropped && strict {
		return nil, nil, hooks.Forbidden()
	}
	if len(keys) == 0 {
		return nil, keys, nil
	}
	sql, args, err := it.deleteSQL(a, keys)
	if err != nil {
		return nil, nil, err
	}
	rows, ids, err := store.ItemWriteWithEventsTx(ctx, tx, sql, args, it.eventFor("delete", keys))
	if err != nil {
		return nil, nil, fmt.Errorf("deleting from %s: %w", it.coll.Name, err)
	}
	if strict && len(rows) != len(keys) {
		return nil, nil, hooks.Forbidden()
	}
	affected := make([]any, len(rows))
	for i, row := range rows {
		if affected[i], err = keyFromJSON(it.pk(), row.Key); err != nil {
			return nil, nil, err
		}
	}
	if len(ids) > 0 {
		meta := hooks.Meta{Collection: it.coll.Name, Keys: affected, Payload: affected, EventIDs: ids}
		if err := it.enqueue(ctx, tx, names, meta); err != nil {
			return nil, nil, err
		}
	}
	return ids, affected, nil
}

// filter runs the filters for an item payload and checks that what they
// return is still an item.
func (it *Items) filter(ctx context.Context, tx pgx.Tx, names []string, item hooks.Item, meta hooks.Meta) (hooks.Item, error) {
	if item == nil {
		item = hooks.Item{}
	}
	out, err := it.filterPayload(ctx, tx, names, item, meta)
	if err != nil {
		return nil, err
	}
	switch x := out.(type) {
	case hooks.Item:
		return x, nil
	case nil:
		return hooks.Item{}, nil
	}
	return nil, fmt.Errorf("%s filter returned %T, want an item (map[string]any)", names[0], out)
}

func (it *Items) filterPayload(ctx context.Context, tx pgx.Tx, names []string, payload any, meta hooks.Meta) (any, error) {
	if it.svc.cfg.Hooks == nil {
		return payload, nil
	}
	return it.svc.cfg.Hooks.Filter(ctx, names, payload, meta, it.eventContext(tx))
}

func (it *Items) enqueue(ctx context.Context, tx pgx.Tx, names []string, meta hooks.Meta) error {
	if it.svc.cfg.Hooks == nil {
		return nil
	}
	if err := it.svc.cfg.Hooks.EnqueueActionsTx(ctx, tx, names, meta); err != nil {
		return fmt.Errorf("enqueueing %s actions: %w", names[0], err)
	}
	return nil
}

// enqueueMany enqueues one create's actions per meta, in one insert when
// the runner can.
func (it *Items) enqueueMany(ctx context.Context, tx pgx.Tx, names []string, metas []hooks.Meta) error {
	bulk, ok := it.svc.cfg.Hooks.(BulkEnqueuer)
	if !ok || len(metas) < 2 {
		for _, meta := range metas {
			if err := it.enqueue(ctx, tx, names, meta); err != nil {
				return err
			}
		}
		return nil
	}
	if err := bulk.EnqueueActionsManyTx(ctx, tx, names, metas); err != nil {
		return fmt.Errorf("enqueueing %s actions: %w", names[0], err)
	}
	return nil
}

// eventFor describes the event each written row appends.
func (it *Items) eventFor(action string, payload any) store.ItemWriteEvent {
	return store.ItemWriteEvent{Name: "items." + action, Scope: "items", Action: action, Collection: it.coll.Name,
		Payload: payload, Accountability: it.acc, Origin: store.EventOriginAPI}
}

// Hook kinds asked of HookPresence.
const (
	kindFilter = "filter"
	kindAction = "action"
)

// hooked reports whether a hook of kind may run for names on this
// collection; without a HookPresence it must assume so.
func (it *Items) hooked(kind string, names []string) bool {
	h := it.svc.cfg.Hooks
	if h == nil {
		return false
	}
	if p, ok := h.(HookPresence); ok {
		return p.HasHooks(kind, names, it.coll.Name)
	}
	return true
}

// checkWritten enforces, inside the write's transaction, that every written
// row satisfies the caller's item rule (else 403 FORBIDDEN) and validation
// (else 400 FAILED_VALIDATION naming the field). Admin and system callers,
// and rules that allow everything, cost nothing.
func (it *Items) checkWritten(ctx context.Context, tx pgx.Tx, a *access, rule map[string]any, keys []any) error {
	if a.full || len(keys) == 0 {
		return nil
	}
	if rule != nil {
		n, err := it.countWhere(ctx, tx, rule, keys)
		if err != nil {
			return err
		}
		if n != len(keys) {
			return hooks.Forbidden()
		}
	}
	for _, check := range validationChecks(a.validation()) {
		n, err := it.countWhere(ctx, tx, check.filter, keys)
		if err != nil {
			return err
		}
		if n != len(keys) {
			return failedValidation(check.field, check.cond)
		}
	}
	return nil
}

// countWhere counts the rows among keys that satisfy filter.
func (it *Items) countWhere(ctx context.Context, tx pgx.Tx, filter map[string]any, keys []any) (int, error) {
	where, args, err := query.Where(it.coll, filter, it.ruleOptions(), 2)
	if err != nil {
		return 0, err
	}
	sql := "SELECT count(*) FROM " + it.table() + " WHERE " + it.pkIdent() + " = ANY($1) AND (" + where + ")"
	var n int
	if err := store.ItemsScalar(ctx, tx, &n, sql, append([]any{keys}, args...)...); err != nil {
		return 0, fmt.Errorf("checking written items of %s: %w", it.coll.Name, err)
	}
	return n, nil
}

// ruleOptions compile permission rules and validations: they may use any
// field and the variables.
func (it *Items) ruleOptions() *query.Options {
	return &query.Options{Schema: it.svc.cfg.DBSchema, Vars: it.vars()}
}

func (it *Items) pk() *hooks.Field { return it.coll.Fields[it.coll.PrimaryKey] }

func (it *Items) pkIdent() string { return pgx.Identifier{it.coll.PrimaryKey}.Sanitize() }

// updateSQL locks the target rows (keys, within the rule) and updates them,
// returning both images. The old image comes from the locking subquery,
// which reads the row as it is once locked.
func (it *Items) updateSQL(a *access, cols []string, vals []any, keys []any) (string, []any, error) {
	args := append([]any{keys}, vals...)
	cond := it.pkIdent() + " = ANY($1)"
	if rule := a.rule(); rule != nil {
		where, rargs, err := query.Where(it.coll, rule, it.ruleOptions(), len(args)+1)
		if err != nil {
			return "", nil, err
		}
		cond += " AND (" + where + ")"
		args = append(args, rargs...)
	}
	locked := "SELECT " + it.pkIdent() + " AS hookd_key, to_jsonb(" + it.table() + ".*) AS hookd_image FROM " +
		it.table() + " WHERE " + cond + " FOR UPDATE"
	if len(cols) == 0 {
		// Nothing to set: the update still happens (filters ran, events and
		// actions follow), the row just stays as it was.
		return "SELECT to_jsonb(hookd_key) AS hookd_key, hookd_image AS hookd_new, hookd_image AS hookd_old FROM (" +
			locked + ") AS hookd_locked", args, nil
	}
	var b strings.Builder
	b.WriteString("UPDATE " + it.table() + " SET ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pgx.Identifier{c}.Sanitize() + " = $" + strconv.Itoa(i+2))
	}
	b.WriteString(" FROM (" + locked + ") AS hookd_old WHERE " + it.table() + "." + it.pkIdent() +
		" = hookd_old.hookd_key")
	b.WriteString(" RETURNING to_jsonb(" + it.table() + "." + it.pkIdent() + ") AS hookd_key, to_jsonb(" +
		it.table() + ".*) AS hookd_new, hookd_old.hookd_image AS hookd_old")
	return b.String(), args, nil
}

func (it *Items) deleteSQL(a *access, keys []any) (string, []any, error) {
	args := []any{keys}
	cond := it.pkIdent() + " = ANY($1)"
	if rule := a.rule(); rule != nil {
		where, rargs, err := query.Where(it.coll, rule, it.ruleOptions(), 2)
		if err != nil {
			return "", nil, err
		}
		cond += " AND (" + where + ")"
		args = append(args, rargs...)
	}
	return "DELETE FROM " + it.table() + " WHERE " + cond +
		" RETURNING to_jsonb(" + it.pkIdent() + ") AS hookd_key, NULL::jsonb AS hookd_new, to_jsonb(" + it.table() +
		".*) AS hookd_old", args, nil
}

// decodeItem decodes a JSON document into an item, keeping numbers exact.
func decodeItem(raw json.RawMessage) (hooks.Item, error) {
	var item hooks.Item
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&item); err != nil {
		return nil, fmt.Errorf("decoding item: %w", err)
	}
	return item, nil
}
