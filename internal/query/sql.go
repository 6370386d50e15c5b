package query

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/hooks"
)

// builder accumulates SQL arguments; placeholders are numbered from first.
type builder struct {
	first int
	args  []any
}

func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(b.first+len(b.args)-1)
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// literal quotes a string constant (field names used as JSON keys: they
// come from the catalog, never from the client, but are quoted properly all
// the same). E” keeps the meaning independent of standard_conforming_strings.
func literal(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "E'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func table(c *hooks.Collection, o *Options) string {
	name := cmp.Or(o.Table, c.Name)
	if o.Schema != "" {
		return pgx.Identifier{o.Schema, name}.Sanitize()
	}
	return ident(name)
}

func isStringKind(k kind) bool { return k == kindString || k == kindBpchar || k == kindCIText }

// node renders a compiled filter as a boolean SQL expression.
func (b *builder) node(n *node) string {
	switch n.logic {
	case "_and", "_or":
		if len(n.children) == 0 {
			if n.logic == "_and" {
				return "TRUE"
			}
			return "FALSE"
		}
		parts := make([]string, len(n.children))
		for i, child := range n.children {
			parts[i] = b.node(child)
		}
		if len(parts) == 1 {
			return parts[0]
		}
		sep := " AND "
		if n.logic == "_or" {
			sep = " OR "
		}
		return "(" + strings.Join(parts, sep) + ")"
	}
	return b.cond(n.cond)
}

func (b *builder) cond(c *cond) string {
	col := ident(c.field.Name)
	// cmpCol is the column as comparisons see it: char(n) without its
	// padding, citext lower-cased (its parameters are lower-cased in Go).
	cmpCol := col
	switch c.kind {
	case kindBpchar:
		cmpCol = col + "::text"
	case kindCIText:
		cmpCol = "lower(" + col + "::text)"
	}
	ordCol := cmpCol
	if isStringKind(c.kind) {
		// Byte order, like Go's string comparison, whatever the database
		// collation.
		ordCol = cmpCol + ` COLLATE "C"`
	}
	param := func(v any) string {
		if c.kind == kindCIText {
			v = strings.ToLower(v.(string))
		}
		return b.arg(sqlArg(c.kind, v)) + "::" + c.kind.sqlType()
	}
	isNull, notNull := col+" IS NULL", col+" IS NOT NULL"
	if c.kind == kindJSON {
		// A JSON null is null to a client (and in a row image).
		typeOf := "jsonb_typeof(" + col + "::jsonb)"
		if c.field.DBType == "json" {
			typeOf = "json_typeof(" + col + ")"
		}
		isNull = "(" + isNull + " OR " + typeOf + " = 'null')"
		notNull = "(" + notNull + " AND " + typeOf + " <> 'null')"
	}
	switch c.op {
	case "_null":
		return isNull
	case "_nnull":
		return notNull
	case "_empty":
		if isStringKind(c.kind) {
			return "(" + col + " IS NULL OR " + cmpCol + " = '')"
		}
		return isNull
	case "_nempty":
		if isStringKind(c.kind) {
			return "(" + col + " IS NOT NULL AND " + cmpCol + " <> '')"
		}
		return notNull
	case "_eq":
		return cmpCol + " = " + param(c.value)
	case "_neq":
		return cmpCol + " <> " + param(c.value)
	case "_lt":
		return ordCol + " < " + param(c.value)
	case "_lte":
		return ordCol + " <= " + param(c.value)
	case "_gt":
		return ordCol + " > " + param(c.value)
	case "_gte":
		return ordCol + " >= " + param(c.value)
	case "_in", "_nin":
		texts := make([]string, len(c.values))
		for i, v := range c.values {
			texts[i] = arrayText(c.kind, v)
		}
		expr := cmpCol + " = ANY(" + b.arg(texts) + "::" + c.kind.sqlType() + "[])"
		if c.op == "_nin" {
			return "NOT (" + expr + ")"
		}
		return expr
	case "_between", "_nbetween":
		expr := ordCol + " BETWEEN " + param(c.values[0]) + " AND " + param(c.values[1])
		if c.op == "_nbetween" {
			return "NOT (" + expr + ")"
		}
		return expr
	}
	m := stringOps[c.op]
	textCol := col
	if c.kind != kindString {
		textCol = col + "::text" // uuid, char(n) without padding, citext case-sensitively
	}
	pattern := escapeLike(c.value.(string))
	switch m.match {
	case "contains":
		pattern = "%" + pattern + "%"
	case "starts":
		pattern += "%"
	default:
		pattern = "%" + pattern
	}
	like := " LIKE "
	if m.insensitive {
		like = " ILIKE "
	}
	expr := textCol + like + b.arg(pattern) + "::text"
	if m.negate {
		return "NOT (" + expr + ")"
	}
	return expr
}

// arrayText is a coerced value as an element of a text[] parameter that
// Postgres casts to the field's array type.
func arrayText(k kind, v any) string {
	switch k {
	case kindInt:
		return strconv.FormatInt(v.(int64), 10)
	case kindFloat, kindFloat4:
		return strconv.FormatFloat(v.(float64), 'g', -1, 64)
	case kindBool:
		return strconv.FormatBool(v.(bool))
	case kindCIText:
		return strings.ToLower(v.(string))
	}
	s, _ := sqlArg(k, v).(string)
	return s
}

// escapeLike makes LIKE wildcards in s literal (backslash is LIKE's
// default escape character).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// searchNode is Directus's search: case-insensitive containment on string
// and text fields, equality on numeric (and uuid) fields when the search
// term is one; only fields the caller may read.
func searchNode(c *hooks.Collection, o *Options, term string) *node {
	out := &node{logic: "_or"}
	for _, name := range c.FieldOrder {
		f := c.Fields[name]
		if f == nil || !o.readable(name) {
			continue
		}
		k := kindOf(f)
		cd := &cond{field: f, kind: k, op: "_eq"}
		switch k {
		case kindString, kindBpchar, kindCIText:
			cd.op, cd.value = "_icontains", term
		case kindInt:
			n, err := strconv.ParseInt(strings.TrimSpace(term), 10, 64)
			if err != nil {
				continue
			}
			cd.value = n
		case kindFloat, kindFloat4:
			x, err := strconv.ParseFloat(strings.TrimSpace(term), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				continue
			}
			v, _ := coerce(k, x)
			cd.value = v
		case kindDecimal:
			r, err := toRat(term)
			if err != nil {
				continue
			}
			cd.value = r
		case kindUUID:
			u, err := uuid.Parse(strings.TrimSpace(term))
			if err != nil {
				continue
			}
			cd.value = u.String()
		default:
			continue
		}
		out.children = append(out.children, &node{cond: cd})
	}
	return out
}

// where compiles the permission rule, the filter and (optionally) the
// search into one condition tree.
func where(c *hooks.Collection, q *hooks.Query, o *Options, withFilter bool) (*node, error) {
	out := &node{logic: "_and"}
	if len(o.Permission) > 0 {
		perm, err := compileFilter(c, o, o.Permission, "permissions", false)
		if err != nil {
			return nil, err
		}
		out.children = append(out.children, perm)
	}
	if withFilter && q != nil {
		if len(q.Filter) > 0 {
			f, err := compileFilter(c, o, q.Filter, "filter", true)
			if err != nil {
				return nil, err
			}
			out.children = append(out.children, f)
		}
		if q.Search != nil && *q.Search != "" {
			out.children = append(out.children, searchNode(c, o, *q.Search))
		}
	}
	return out, nil
}

// Where compiles filter, ANDed with o.Permission, into a boolean SQL
// expression whose placeholders start at $firstArg, for UPDATE/DELETE …
// WHERE and for permission checks. Column references are unqualified.
// o.ReadableFields applies to filter, not to the permission rule.
func Where(c *hooks.Collection, filter map[string]any, o *Options, firstArg int) (string, []any, error) {
	o = o.defaults()
	if firstArg < 1 {
		firstArg = 1
	}
	n, err := where(c, &hooks.Query{Filter: filter}, o, true)
	if err != nil {
		return "", nil, err
	}
	b := &builder{first: firstArg}
	return b.node(n), b.args, nil
}

// selectFields expands q.Fields ("*" = every readable field in column
// order) into field names, without duplicates.
func selectFields(c *hooks.Collection, q *hooks.Query, o *Options) ([]string, error) {
	requested := q.Fields
	if len(requested) == 0 {
		requested = []string{"*"}
	}
	var out []string
	add := func(name string) {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	for _, raw := range requested {
		name := strings.TrimSpace(raw)
		switch {
		case name == "":
			continue
		case name == "*":
			for _, n := range c.FieldOrder {
				if o.readable(n) {
					add(n)
				}
			}
			continue
		}
		if _, err := field(c, o, "fields", name, true); err != nil {
			return nil, err
		}
		add(name)
	}
	if len(out) == 0 {
		return nil, hooks.Forbidden()
	}
	return out, nil
}

// orderBy renders q.Sort; allowed (when not nil) limits the fields that
// may be sorted on (the groupBy fields of an aggregate).
func orderBy(c *hooks.Collection, q *hooks.Query, o *Options, allowed []string) (string, error) {
	var parts []string
	for _, raw := range q.Sort {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		dir := ""
		if name, ok := strings.CutPrefix(s, "-"); ok {
			s, dir = strings.TrimSpace(name), " DESC"
		}
		f, err := field(c, o, "sort", s, true)
		if err != nil {
			return "", err
		}
		if !groupable(f) {
			return "", errInvalid("Field %q of type %s cannot be used in \"sort\"", s, f.Type)
		}
		if allowed != nil && !slices.Contains(allowed, s) {
			return "", errInvalid("Sort field %q must be one of the groupBy fields when aggregating", s)
		}
		parts = append(parts, ident(s)+dir)
	}
	if len(parts) == 0 {
		return "", nil
	}
	return " ORDER BY " + strings.Join(parts, ", "), nil
}

// limits resolves limit, offset and page: nil limit means no LIMIT.
func limits(q *hooks.Query, o *Options) (limit *int64, offset int64, err error) {
	l := o.DefaultLimit
	if q.Limit != nil {
		l = *q.Limit
	}
	if l < -1 {
		return nil, 0, errInvalid(`"limit" must be -1 (all) or a number of items, not %d`, l)
	}
	if o.MaxLimit >= 0 && (l == -1 || l > o.MaxLimit) {
		l = o.MaxLimit
	}
	if q.Offset != nil {
		if *q.Offset < 0 {
			return nil, 0, errInvalid(`"offset" must not be negative`)
		}
		offset = int64(*q.Offset)
	}
	if q.Page != nil {
		if *q.Page < 1 {
			return nil, 0, errInvalid(`"page" must be 1 or more`)
		}
		if l != -1 {
			offset = int64(l) * int64(*q.Page-1)
		}
	}
	if l == -1 {
		return nil, offset, nil
	}
	n := int64(l)
	return &n, offset, nil
}

func (b *builder) limitOffset(limit *int64, offset int64) string {
	var sb strings.Builder
	if limit != nil {
		sb.WriteString(" LIMIT " + b.arg(*limit))
	}
	if offset > 0 {
		sb.WriteString(" OFFSET " + b.arg(offset))
	}
	return sb.String()
}

// jsonObject renders json_build_object over key/value expression pairs.
// Postgres takes at most 100 arguments, so wider objects are merged from
// pieces (as jsonb, which orders keys its own way).
func jsonObject(keys, values []string) string {
	const perCall = 50
	var pieces []string
	for start := 0; start < len(keys) || start == 0; start += perCall {
		end := min(start+perCall, len(keys))
		args := make([]string, 0, 2*(end-start))
		for i := start; i < end; i++ {
			args = append(args, literal(keys[i]), values[i])
		}
		pieces = append(pieces, "json_build_object("+strings.Join(args, ", ")+")")
		if end == len(keys) {
			break
		}
	}
	if len(pieces) == 1 {
		return pieces[0]
	}
	return "(" + strings.Join(pieces, "::jsonb || ") + "::jsonb)::json"
}

// Select reads items: one row per item with one json column holding the
// selected fields, filtered by the permission rule, the filter and the
// search, in sort order (primary key when no sort is given, so pages are
// stable), with limit, offset and page applied.
func Select(c *hooks.Collection, q *hooks.Query, o *Options) (*Statement, error) {
	o = o.defaults()
	if q == nil {
		q = &hooks.Query{}
	}
	fields, err := selectFields(c, q, o)
	if err != nil {
		return nil, err
	}
	w, err := where(c, q, o, true)
	if err != nil {
		return nil, err
	}
	order, err := orderBy(c, q, o, nil)
	if err != nil {
		return nil, err
	}
	if order == "" && c.PrimaryKey != "" {
		order = " ORDER BY " + ident(c.PrimaryKey)
	}
	limit, offset, err := limits(q, o)
	if err != nil {
		return nil, err
	}
	cols := make([]string, len(fields))
	for i, f := range fields {
		cols[i] = ident(f)
	}
	b := &builder{first: 1}
	sql := "SELECT " + jsonObject(fields, cols) + " FROM " + table(c, o) + " WHERE " + b.node(w) + order +
		b.limitOffset(limit, offset)
	return &Statement{SQL: sql, Args: b.args}, nil
}

// Keys selects the primary keys of the items q addresses (its filter,
// search, sort, limit, offset and page, under the permission rule): what
// update and delete by query act on. One row per item, one column.
func Keys(c *hooks.Collection, q *hooks.Query, o *Options) (*Statement, error) {
	o = o.defaults()
	if q == nil {
		q = &hooks.Query{}
	}
	if c.PrimaryKey == "" {
		return nil, errInvalid("Collection %q has no single-column primary key", c.Name)
	}
	w, err := where(c, q, o, true)
	if err != nil {
		return nil, err
	}
	order, err := orderBy(c, q, o, nil)
	if err != nil {
		return nil, err
	}
	if order == "" {
		order = " ORDER BY " + ident(c.PrimaryKey)
	}
	limit, offset, err := limits(q, o)
	if err != nil {
		return nil, err
	}
	b := &builder{first: 1}
	sql := "SELECT " + ident(c.PrimaryKey) + " FROM " + table(c, o) + " WHERE " + b.node(w) + order +
		b.limitOffset(limit, offset)
	return &Statement{SQL: sql, Args: b.args}, nil
}

// Count counts items for meta: with withFilter false under the permission
// rule only (total_count), with it true also under the filter and search
// (filter_count). One row, one bigint column.
func Count(c *hooks.Collection, q *hooks.Query, o *Options, withFilter bool) (*Statement, error) {
	o = o.defaults()
	if q == nil {
		q = &hooks.Query{}
	}
	w, err := where(c, q, o, withFilter)
	if err != nil {
		return nil, err
	}
	b := &builder{first: 1}
	return &Statement{SQL: "SELECT count(*) FROM " + table(c, o) + " WHERE " + b.node(w), Args: b.args}, nil
}

// MetaCounts computes the counts q.Meta asks for (nil when none), running
// each count statement with count: total_count (every item under the
// permission rule) and filter_count (those matching filter and search too).
func MetaCounts(c *hooks.Collection, q *hooks.Query, o *Options, count func(*Statement) (int64, error)) (map[string]any, error) {
	if q == nil || len(q.Meta) == 0 {
		return nil, nil
	}
	for _, name := range q.Meta {
		if name != "*" && name != "total_count" && name != "filter_count" {
			return nil, errInvalid("Unknown meta %q; use total_count or filter_count", name)
		}
	}
	all := slices.Contains(q.Meta, "*")
	out := map[string]any{}
	for _, m := range []struct {
		name       string
		withFilter bool
	}{{"total_count", false}, {"filter_count", true}} {
		if !all && !slices.Contains(q.Meta, m.name) {
			continue
		}
		stmt, err := Count(c, q, o, m.withFilter)
		if err != nil {
			return nil, err
		}
		if out[m.name], err = count(stmt); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// aggregateFuncs maps Directus's aggregate functions to SQL.
var aggregateFuncs = map[string]struct {
	sql, distinct string
	numeric       bool // only numeric fields
	ordered       bool // only fields with an order
}{
	"count":         {sql: "count"},
	"countDistinct": {sql: "count", distinct: "DISTINCT "},
	"countAll":      {sql: "count"},
	"sum":           {sql: "sum", numeric: true},
	"sumDistinct":   {sql: "sum", distinct: "DISTINCT ", numeric: true},
	"avg":           {sql: "avg", numeric: true},
	"avgDistinct":   {sql: "avg", distinct: "DISTINCT ", numeric: true},
	"min":           {sql: "min", ordered: true},
	"max":           {sql: "max", ordered: true},
}

// groupable fields have the equality and order Postgres needs for ORDER
// BY, GROUP BY and DISTINCT: not json (jsonb has them) and not the
// unknown types, some of which lack them (point, xml, …).
func groupable(f *hooks.Field) bool {
	k := kindOf(f)
	return k != kindOther && !(k == kindJSON && f.DBType == "json")
}

func isNumericKind(k kind) bool {
	return k == kindInt || k == kindFloat || k == kindFloat4 || k == kindDecimal
}

// Aggregate computes q.Aggregate grouped by q.GroupBy, in Directus's shape:
// one json row per group such as {"count":{"id":3},"sum":{"price":10},
// "category":"x"} (group fields at the top level); count of "*" (and
// countAll) is a plain number: {"count":3}. Permission rule, filter and
// search apply; sort may only name groupBy fields (default: the groupBy
// fields); limit, offset and page apply to the groups.
func Aggregate(c *hooks.Collection, q *hooks.Query, o *Options) (*Statement, error) {
	o = o.defaults()
	if q == nil || len(q.Aggregate) == 0 && len(q.GroupBy) == 0 {
		return nil, errInvalid(`"aggregate" or "groupBy" is required`)
	}
	var keys, values []string
	funcs := make([]string, 0, len(q.Aggregate))
	for fn := range q.Aggregate {
		funcs = append(funcs, fn)
	}
	slices.Sort(funcs)
	for _, fn := range funcs {
		spec, ok := aggregateFuncs[fn]
		if !ok {
			return nil, errInvalid("Unknown aggregate function %q in \"aggregate\"", fn)
		}
		var fieldNames []string
		for _, raw := range q.Aggregate[fn] {
			if name := strings.TrimSpace(raw); name != "" && !slices.Contains(fieldNames, name) {
				fieldNames = append(fieldNames, name)
			}
		}
		if fn == "countAll" {
			keys, values = append(keys, fn), append(values, "count(*)")
			continue
		}
		if len(fieldNames) == 0 {
			return nil, errInvalid("Aggregate %q needs at least one field", fn)
		}
		if slices.Contains(fieldNames, "*") {
			if fn != "count" || len(fieldNames) > 1 {
				return nil, errInvalid(`"*" in "aggregate" is only allowed alone, with count`)
			}
			keys, values = append(keys, fn), append(values, "count(*)")
			continue
		}
		var innerKeys, innerValues []string
		for _, name := range fieldNames {
			f, err := field(c, o, "aggregate", name, true)
			if err != nil {
				return nil, err
			}
			k := kindOf(f)
			if spec.numeric && !isNumericKind(k) || spec.ordered && !k.ordered() || spec.distinct != "" && !groupable(f) {
				return nil, errInvalid("Aggregate %q is not supported on field %q of type %s", fn, name, f.Type)
			}
			innerKeys = append(innerKeys, name)
			innerValues = append(innerValues, spec.sql+"("+spec.distinct+ident(name)+")")
		}
		keys, values = append(keys, fn), append(values, jsonObject(innerKeys, innerValues))
	}
	var groups []string
	for _, raw := range q.GroupBy {
		name := strings.TrimSpace(raw)
		if name == "" || slices.Contains(groups, name) {
			continue
		}
		f, err := field(c, o, "groupBy", name, true)
		if err != nil {
			return nil, err
		}
		if !groupable(f) {
			return nil, errInvalid("Field %q of type %s cannot be used in \"groupBy\"", name, f.Type)
		}
		if slices.Contains(keys, name) {
			return nil, errInvalid("groupBy field %q has the name of an aggregate function", name)
		}
		groups = append(groups, name)
	}
	groupCols := make([]string, len(groups))
	for i, g := range groups {
		groupCols[i] = ident(g)
	}
	keys, values = append(keys, groups...), append(values, groupCols...)
	if len(keys) == 0 {
		return nil, errInvalid(`"aggregate" or "groupBy" is required`)
	}

	w, err := where(c, q, o, true)
	if err != nil {
		return nil, err
	}
	order, err := orderBy(c, q, o, append([]string{}, groups...))
	if err != nil {
		return nil, err
	}
	if order == "" && len(groups) > 0 {
		order = " ORDER BY " + strings.Join(groupCols, ", ")
	}
	limit, offset, err := limits(q, o)
	if err != nil {
		return nil, err
	}
	b := &builder{first: 1}
	sql := "SELECT " + jsonObject(keys, values) + " FROM " + table(c, o) + " WHERE " + b.node(w)
	if len(groups) > 0 {
		sql += " GROUP BY " + strings.Join(groupCols, ", ")
	}
	sql += order + b.limitOffset(limit, offset)
	return &Statement{SQL: sql, Args: b.args}, nil
}
