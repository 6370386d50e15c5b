package query

import (
	"strings"

	"github.com/hookd/hookd/hooks"
)

// tri is SQL's three-valued truth: a comparison with NULL is unknown, and
// only true selects a row.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// Match compiles filter for in-memory evaluation against row images. It
// accepts exactly the filters Where accepts and selects exactly the rows
// Where selects (the agreement is tested against Postgres). No field
// restriction applies: the caller decides what a subscriber may filter on
// when it compiles the subscription's query.
//
// With vars.Now zero, $NOW is the time of each evaluation (as Directus
// re-reads at event time), so a subscription to "created in the last hour"
// stays correct as time passes; a fixed vars.Now freezes it.
func Match(c *hooks.Collection, filter map[string]any, vars Vars) (Predicate, error) {
	o := (&Options{Vars: vars}).defaults()
	n, usesNow, err := compileFilterNow(c, o, filter, "filter", false)
	if err != nil {
		return nil, err
	}
	if usesNow && vars.Now.IsZero() {
		return func(row hooks.Item) bool {
			// The filter compiled once, so it compiles again.
			fresh, _, err := compileFilterNow(c, o, filter, "filter", false)
			return err == nil && evalNode(fresh, row) == triTrue
		}, nil
	}
	return func(row hooks.Item) bool { return evalNode(n, row) == triTrue }, nil
}

func evalNode(n *node, row hooks.Item) tri {
	switch n.logic {
	case "_and":
		out := triTrue
		for _, child := range n.children {
			switch evalNode(child, row) {
			case triFalse:
				return triFalse
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case "_or":
		out := triFalse
		for _, child := range n.children {
			switch evalNode(child, row) {
			case triTrue:
				return triTrue
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	}
	return evalCond(n.cond, row)
}

func evalCond(c *cond, row hooks.Item) tri {
	raw := row[c.field.Name]
	switch c.op {
	case "_null":
		return triOf(raw == nil)
	case "_nnull":
		return triOf(raw != nil)
	case "_empty", "_nempty":
		empty := raw == nil
		if !empty && (c.kind == kindString || c.kind == kindBpchar || c.kind == kindCIText) {
			if v, err := coerce(c.kind, raw); err == nil {
				empty = v.(string) == ""
			}
		}
		return triOf(empty == (c.op == "_empty"))
	}
	if raw == nil {
		// A NULL compares unknown, except that ANY over an empty list is
		// false (so NOT of it is true) whatever the left side is.
		switch {
		case c.op == "_in" && len(c.values) == 0:
			return triFalse
		case c.op == "_nin" && len(c.values) == 0:
			return triTrue
		}
		return triUnknown
	}
	if m, ok := stringOps[c.op]; ok {
		s, err := rowText(c.kind, raw)
		if err != nil {
			return triUnknown
		}
		pattern := c.value.(string)
		if m.insensitive {
			s, pattern = strings.ToLower(s), strings.ToLower(pattern)
		}
		var hit bool
		switch m.match {
		case "contains":
			hit = strings.Contains(s, pattern)
		case "starts":
			hit = strings.HasPrefix(s, pattern)
		default:
			hit = strings.HasSuffix(s, pattern)
		}
		return triOf(hit != m.negate)
	}
	v, err := coerce(c.kind, raw)
	if err != nil || v == nil {
		// A row value this type cannot read (a corrupt image) never matches.
		return triUnknown
	}
	cmp := func(b any) int { return compareValues(c.kind, v, b) }
	switch c.op {
	case "_eq":
		return triOf(cmp(c.value) == 0)
	case "_neq":
		return triOf(cmp(c.value) != 0)
	case "_lt":
		return triOf(cmp(c.value) < 0)
	case "_lte":
		return triOf(cmp(c.value) <= 0)
	case "_gt":
		return triOf(cmp(c.value) > 0)
	case "_gte":
		return triOf(cmp(c.value) >= 0)
	case "_in", "_nin":
		in := false
		for _, b := range c.values {
			if cmp(b) == 0 {
				in = true
				break
			}
		}
		return triOf(in == (c.op == "_in"))
	case "_between", "_nbetween":
		in := cmp(c.values[0]) >= 0 && cmp(c.values[1]) <= 0
		return triOf(in == (c.op == "_between"))
	}
	return triUnknown
}

// rowText is a row value as the text the LIKE operators see (col::text for
// uuid and char(n)).
func rowText(k kind, raw any) (string, error) {
	if k == kindUUID {
		v, err := coerce(k, raw)
		if err != nil {
			return "", err
		}
		return v.(string), nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", errNotValue
	}
	if k == kindBpchar {
		s = strings.TrimRight(s, " ")
	}
	return s, nil
}
