package query

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hookd/hookd/hooks"
)

// node is a compiled filter: a logical group (_and/_or) or one condition.
// Both back ends walk the same tree.
type node struct {
	// logic is "_and" or "_or" for a group, "" for a condition.
	logic    string
	children []*node
	cond     *cond
}

// cond is one field compared with one operator. Operators are canonical:
// `_eq: null` is _null, `_null: false` is _nnull, `_empty: false` is
// _nempty, and so on.
type cond struct {
	field *hooks.Field
	kind  kind
	op    string
	// value is the coerced operand of a comparison, or the pattern text of
	// a string operator.
	value any
	// values are the coerced operands of _in/_nin (any length) and
	// _between/_nbetween (two).
	values []any
}

// stringOps are the LIKE-family operators: the base match and its flags.
var stringOps = map[string]struct {
	match               string // contains, starts, ends
	negate, insensitive bool
}{
	"_contains":      {"contains", false, false},
	"_ncontains":     {"contains", true, false},
	"_icontains":     {"contains", false, true},
	"_nicontains":    {"contains", true, true},
	"_starts_with":   {"starts", false, false},
	"_nstarts_with":  {"starts", true, false},
	"_istarts_with":  {"starts", false, true},
	"_nistarts_with": {"starts", true, true},
	"_ends_with":     {"ends", false, false},
	"_nends_with":    {"ends", true, false},
	"_iends_with":    {"ends", false, true},
	"_niends_with":   {"ends", true, true},
}

type filterCompiler struct {
	c    *hooks.Collection
	o    *Options
	vars Vars
	// param names the query parameter in errors ("filter", "permissions").
	param string
	// checkReadable applies Options.ReadableFields (not to permission
	// rules, which may use fields the role cannot read).
	checkReadable bool
	nodes         int
	// usesNow is set when the filter uses $NOW.
	usesNow bool
}

// resolve resolves a variable, noting $NOW.
func (fc *filterCompiler) resolve(raw any) (any, bool) {
	if s, ok := raw.(string); ok && strings.HasPrefix(s, "$NOW") {
		fc.usesNow = true
	}
	return resolveVar(raw, fc.vars)
}

// compileFilter compiles a Directus filter; a nil or empty filter is an
// empty _and (true).
func compileFilter(c *hooks.Collection, o *Options, filter map[string]any, param string, checkReadable bool) (*node, error) {
	n, _, err := compileFilterNow(c, o, filter, param, checkReadable)
	return n, err
}

// compileFilterNow also reports whether the filter uses $NOW. Every $NOW in
// one filter is the same instant.
func compileFilterNow(c *hooks.Collection, o *Options, filter map[string]any, param string,
	checkReadable bool) (*node, bool, error) {
	vars := o.Vars
	vars.Now = vars.now()
	fc := &filterCompiler{c: c, o: o, vars: vars, param: param, checkReadable: checkReadable}
	n, err := fc.group(filter, 0)
	return n, fc.usesNow, err
}

func (fc *filterCompiler) count() error {
	fc.nodes++
	if fc.nodes > maxFilterNodes {
		return errInvalid("%q has more than %d conditions", fc.param, maxFilterNodes)
	}
	return nil
}

// group compiles an object: every key is ANDed.
func (fc *filterCompiler) group(m map[string]any, depth int) (*node, error) {
	if depth > maxFilterDepth {
		return nil, errInvalid("%q is nested more than %d levels deep", fc.param, maxFilterDepth)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic SQL for equal filters
	out := &node{logic: "_and"}
	for _, key := range keys {
		v := m[key]
		if err := fc.count(); err != nil {
			return nil, err
		}
		if (key == "_and" || key == "_or") && fc.c.Fields[key] == nil {
			list, ok := asList(v)
			if !ok {
				return nil, errInvalid("%q in %q must be an array of filters", key, fc.param)
			}
			g := &node{logic: key}
			for _, item := range list {
				sub, ok := item.(map[string]any)
				if !ok {
					return nil, errInvalid("%q in %q must be an array of filter objects", key, fc.param)
				}
				child, err := fc.group(sub, depth+1)
				if err != nil {
					return nil, err
				}
				g.children = append(g.children, child)
			}
			out.children = append(out.children, g)
			continue
		}
		if strings.HasPrefix(key, "_") && fc.c.Fields[key] == nil {
			return nil, errInvalid("%q is not a valid logical operator in %q (use _and or _or, or a field name)",
				key, fc.param)
		}
		f, err := field(fc.c, fc.o, fc.param, key, fc.checkReadable)
		if err != nil {
			return nil, err
		}
		ops, ok := v.(map[string]any)
		if !ok {
			return nil, errInvalid("The filter on field %q in %q must be an object of operators, like {\"_eq\": value}",
				key, fc.param)
		}
		opNames := make([]string, 0, len(ops))
		for op := range ops {
			opNames = append(opNames, op)
		}
		slices.Sort(opNames)
		for _, op := range opNames {
			if !strings.HasPrefix(op, "_") {
				return nil, errInvalid("Nested relational filter %q on field %q in %q is not supported", op, key, fc.param)
			}
			c, err := fc.cond(f, op, ops[op])
			if err != nil {
				return nil, err
			}
			out.children = append(out.children, &node{cond: c})
		}
	}
	if len(out.children) == 1 {
		return out.children[0], nil
	}
	return out, nil
}

func (fc *filterCompiler) cond(f *hooks.Field, op string, raw any) (*cond, error) {
	k := kindOf(f)
	c := &cond{field: f, kind: k, op: op}
	notSupported := func() error {
		return errInvalid("Operator %q is not supported on field %q of type %s in %q", op, f.Name, f.Type, fc.param)
	}
	switch op {
	case "_null", "_nnull", "_empty", "_nempty":
		v, _ := fc.resolve(raw)
		b, err := toBool(v)
		if err != nil {
			return nil, errInvalid("%q on field %q in %q must be true or false", op, f.Name, fc.param)
		}
		if !b {
			c.op = map[string]string{"_null": "_nnull", "_nnull": "_null", "_empty": "_nempty", "_nempty": "_empty"}[op]
		}
		return c, nil

	case "_eq", "_neq", "_lt", "_lte", "_gt", "_gte":
		eq := op == "_eq" || op == "_neq"
		if v, ok := fc.resolve(raw); ok && v == nil && eq {
			// _eq: null is IS NULL, on any type.
			c.op = map[string]string{"_eq": "_null", "_neq": "_nnull"}[op]
			return c, nil
		}
		if eq && !k.comparable() || !eq && !k.ordered() {
			return nil, notSupported()
		}
		v, err := fc.value(f, k, op, raw)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, errInvalid("%q on field %q in %q needs a value, not null", op, f.Name, fc.param)
		}
		c.value = v
		return c, nil

	case "_in", "_nin", "_between", "_nbetween":
		between := op == "_between" || op == "_nbetween"
		if between && !k.ordered() || !between && !k.comparable() {
			return nil, notSupported()
		}
		list, ok := asList(raw)
		if !ok {
			s, isString := raw.(string)
			if !isString {
				return nil, errInvalid("%q on field %q in %q must be an array or a comma-separated list", op, f.Name, fc.param)
			}
			list = nil
			if s != "" {
				for _, part := range strings.Split(s, ",") {
					list = append(list, part)
				}
			}
		}
		if between && len(list) != 2 {
			return nil, errInvalid("%q on field %q in %q needs exactly two values", op, f.Name, fc.param)
		}
		for _, item := range list {
			v, err := fc.value(f, k, op, item)
			if err != nil {
				return nil, err
			}
			if v == nil {
				return nil, errInvalid("%q on field %q in %q cannot contain null", op, f.Name, fc.param)
			}
			c.values = append(c.values, v)
		}
		return c, nil
	}
	if _, ok := stringOps[op]; ok {
		if !k.textual() {
			return nil, notSupported()
		}
		v, ok := fc.resolve(raw)
		if !ok {
			return nil, errInvalid("Invalid variable %v on field %q in %q", raw, f.Name, fc.param)
		}
		s, err := toString(v)
		if err != nil || v == nil {
			return nil, errInvalid("%q on field %q in %q needs a text value", op, f.Name, fc.param)
		}
		c.value = s
		return c, nil
	}
	return nil, errInvalid("Unknown filter operator %q on field %q in %q", op, f.Name, fc.param)
}

// value resolves variables and coerces raw to the field's type.
func (fc *filterCompiler) value(f *hooks.Field, k kind, op string, raw any) (any, error) {
	v, ok := fc.resolve(raw)
	if !ok {
		return nil, errInvalid("Invalid variable %v on field %q in %q", raw, f.Name, fc.param)
	}
	if _, isObject := v.(map[string]any); isObject {
		return nil, errInvalid("%q on field %q in %q needs a value, not an object", op, f.Name, fc.param)
	}
	if _, isList := asList(v); isList {
		return nil, errInvalid("%q on field %q in %q needs a single value, not an array", op, f.Name, fc.param)
	}
	out, err := coerce(k, v)
	if err != nil {
		return nil, errInvalid("Invalid value %s for field %q of type %s in %q", quoteValue(v), f.Name, f.Type, fc.param)
	}
	return out, nil
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out, true
	case []map[string]any:
		out := make([]any, len(x))
		for i, m := range x {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

// quoteValue renders a client's value for an error message, bounded.
func quoteValue(v any) string {
	b, err := json.Marshal(v)
	s := string(b)
	if err != nil {
		s = fmt.Sprint(v)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
