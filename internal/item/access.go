package item

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
)

// access is what the caller may do for one action on the collection.
type access struct {
	// full = system or admin: no checks at all.
	full bool
	perm *hooks.Permission
}

// access resolves the caller's permission for action. No permission is 403
// FORBIDDEN.
func (it *Items) access(ctx context.Context, action string) (*access, error) {
	if it.acc == nil || it.acc.Admin {
		return &access{full: true}, nil
	}
	if it.svc.cfg.Permissions == nil {
		return nil, hooks.Forbidden()
	}
	p, err := it.svc.cfg.Permissions.Permission(ctx, it.acc, it.coll.Name, action)
	if err != nil {
		return nil, fmt.Errorf("reading %s permission on %s: %w", action, it.coll.Name, err)
	}
	if p == nil {
		return nil, hooks.Forbidden()
	}
	return &access{perm: p}, nil
}

// rule is the item rule to AND into statements; nil = every item.
func (a *access) rule() map[string]any {
	if a.full || len(a.perm.Permissions) == 0 {
		return nil
	}
	return a.perm.Permissions
}

// validation is the filter written items must satisfy; nil = none.
func (a *access) validation() map[string]any {
	if a.full || len(a.perm.Validation) == 0 {
		return nil
	}
	return a.perm.Validation
}

// fields are the fields the caller may use; nil = all.
func (a *access) fields() []string {
	if a.full || slices.Contains(a.perm.Fields, "*") {
		return nil
	}
	if a.perm.Fields == nil {
		return []string{}
	}
	return a.perm.Fields
}

func (a *access) fieldAllowed(name string) bool {
	f := a.fields()
	return f == nil || slices.Contains(f, name)
}

// withPresets returns payload over the permission's presets: presets are
// defaults, a value the payload gives wins (Directus). Preset values
// "$CURRENT_USER", "$CURRENT_ROLE" and "$NOW" are resolved for the caller.
func (a *access) withPresets(payload hooks.Item, vars query.Vars) hooks.Item {
	if a.full || len(a.perm.Presets) == 0 {
		return payload
	}
	out := make(hooks.Item, len(a.perm.Presets)+len(payload))
	for k, v := range a.perm.Presets {
		switch v {
		case "$CURRENT_USER":
			v = nilIfEmpty(vars.CurrentUser)
		case "$CURRENT_ROLE":
			v = nilIfEmpty(vars.CurrentRole)
		case "$NOW":
			v = time.Now().UTC().Format(time.RFC3339Nano)
		}
		out[k] = v
	}
	maps.Copy(out, payload)
	return out
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// vars are the filter variables for the caller.
func (it *Items) vars() query.Vars {
	if it.acc == nil {
		return query.Vars{}
	}
	return query.Vars{CurrentUser: it.acc.User, CurrentRole: it.acc.Role}
}

// queryOptions are the compile options for a read under a.
func (it *Items) queryOptions(a *access) *query.Options {
	o := &query.Options{
		Schema:       it.svc.cfg.DBSchema,
		DefaultLimit: it.svc.cfg.DefaultLimit,
		MaxLimit:     it.svc.cfg.MaxLimit,
		Vars:         it.vars(),
	}
	if a != nil && !a.full {
		o.Permission = a.rule()
		o.ReadableFields = a.fields()
	}
	return o
}

// checkPayload rejects fields the collection does not have (400) and fields
// the caller may not write (403), and coerces every value to its column's
// type. It returns the columns (in a stable order) and their values.
func (it *Items) checkPayload(a *access, payload hooks.Item) (cols []string, vals []any, err error) {
	cols = make([]string, 0, len(payload))
	for name := range payload {
		if it.coll.Fields[name] == nil {
			e := hooks.InvalidPayload(fmt.Sprintf("Field %q does not exist in collection %q", name, it.coll.Name))
			e.Extensions = map[string]any{"field": name}
			return nil, nil, e
		}
		cols = append(cols, name)
	}
	slices.Sort(cols)
	for _, name := range cols {
		if !a.fieldAllowed(name) {
			return nil, nil, hooks.Forbidden()
		}
	}
	vals = make([]any, len(cols))
	for i, name := range cols {
		if vals[i], err = coerceValue(it.coll.Fields[name], payload[name]); err != nil {
			return nil, nil, err
		}
	}
	return cols, vals, nil
}

// failedValidation is 400 FAILED_VALIDATION for field, as Directus words it.
func failedValidation(field string, cond any) *hooks.Error {
	e := hooks.NewError("FAILED_VALIDATION", 400, fmt.Sprintf("Validation failed for field %q.", field))
	e.Extensions = map[string]any{"field": field}
	if m, ok := cond.(map[string]any); ok && len(m) == 1 {
		for op := range m {
			e.Extensions["type"] = strings.TrimPrefix(op, "_")
		}
	}
	return e
}

// validationChecks splits a validation filter into checks that each name
// one field: the top-level field conditions and the members of a top-level
// _and. A check that is not about one field (an _or) names the first field
// it mentions.
func validationChecks(filter map[string]any) []validationCheck {
	var out []validationCheck
	var walk func(f map[string]any)
	walk = func(f map[string]any) {
		for _, key := range slices.Sorted(maps.Keys(f)) {
			v := f[key]
			if key == "_and" {
				if list, ok := v.([]any); ok {
					for _, el := range list {
						if m, ok := el.(map[string]any); ok {
							walk(m)
						}
					}
					continue
				}
			}
			field := key
			if strings.HasPrefix(key, "_") {
				field = firstField(v)
			}
			out = append(out, validationCheck{field: field, filter: map[string]any{key: v}, cond: v})
		}
	}
	walk(filter)
	return out
}

type validationCheck struct {
	field  string
	filter map[string]any
	cond   any
}

func firstField(v any) string {
	switch x := v.(type) {
	case []any:
		for _, el := range x {
			if f := firstField(el); f != "" {
				return f
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !strings.HasPrefix(k, "_") {
				return k
			}
			if f := firstField(x[k]); f != "" {
				return f
			}
		}
	}
	return ""
}
