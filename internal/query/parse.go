package query

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/hookd/hookd/hooks"
)

// maxBracketDepth bounds `filter[a][b]…` nesting.
const maxBracketDepth = 2*maxFilterDepth + 4

// ParseURL parses REST query parameters: fields (comma list, repeated or
// fields[]), filter (JSON or the bracket form filter[field][_op]=v, with
// filter[_and][0][…] for lists), sort, limit (-1 = all), offset, page,
// search, meta (total_count, filter_count or *), aggregate (JSON or
// aggregate[fn]=fields) and groupBy. Other parameters are ignored. It
// checks syntax only; Select and friends check names and values.
func ParseURL(values url.Values) (*hooks.Query, error) {
	q := &hooks.Query{}
	brackets := map[string]map[string]any{}  // filter/aggregate bracket trees
	listItems := map[string][]indexedValue{} // fields[]=a, fields[0]=a, …
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		base, path, isBracket := splitKey(key)
		if !isBracket || !isQueryParam(base) {
			continue
		}
		if path == nil {
			return nil, errInvalid("%q is not a valid parameter name", key)
		}
		switch base {
		case "fields", "sort", "groupBy", "meta":
			idx := -1 // name[]: before indexed items, in the order given
			if len(path) != 1 {
				return nil, errInvalid("%q must be a list of names", base)
			}
			if path[0] != "" {
				n, err := strconv.ParseUint(path[0], 10, 31)
				if err != nil {
					return nil, errInvalid("%q must be a list of names", base)
				}
				idx = int(n)
			}
			for _, v := range values[key] {
				listItems[base] = append(listItems[base], indexedValue{idx, v})
			}
			continue
		case "filter", "aggregate":
		default:
			return nil, errInvalid("%q does not take brackets", base)
		}
		if len(path) > maxBracketDepth {
			return nil, errInvalid("%q is nested too deeply", base)
		}
		if brackets[base] == nil {
			brackets[base] = map[string]any{}
		}
		for _, v := range values[key] {
			if err := setPath(brackets[base], path, v); err != nil {
				return nil, errInvalid("%q: %s", base, err.Error())
			}
		}
	}
	single := func(name string) (string, bool, error) {
		vs, ok := values[name]
		if !ok || len(vs) == 0 {
			return "", false, nil
		}
		if len(vs) > 1 {
			return "", false, errInvalid("%q is given more than once", name)
		}
		return vs[0], true, nil
	}

	// Lists: fields, sort, groupBy, meta.
	for _, name := range []string{"fields", "sort", "groupBy", "meta"} {
		var list []string
		for _, v := range values[name] {
			list = append(list, splitList(v)...)
		}
		items := listItems[name]
		slices.SortStableFunc(items, func(a, b indexedValue) int { return a.idx - b.idx })
		for _, item := range items {
			list = append(list, splitList(item.value)...)
		}
		if _, given := values[name]; !given && items == nil {
			continue
		}
		if err := setList(q, name, list); err != nil {
			return nil, err
		}
	}

	// filter
	if raw, ok, err := single("filter"); err != nil {
		return nil, err
	} else if ok {
		if brackets["filter"] != nil {
			return nil, errInvalid(`"filter" is given both as JSON and in bracket form`)
		}
		f, err := parseFilterJSON(raw)
		if err != nil {
			return nil, err
		}
		q.Filter = f
	} else if tree := brackets["filter"]; tree != nil {
		f, ok := normalizeBrackets(tree).(map[string]any)
		if !ok {
			return nil, errInvalid(`"filter" must be an object`)
		}
		q.Filter = f
	}

	// aggregate
	if raw, ok, err := single("aggregate"); err != nil {
		return nil, err
	} else if ok {
		if brackets["aggregate"] != nil {
			return nil, errInvalid(`"aggregate" is given both as JSON and in bracket form`)
		}
		agg, err := parseAggregateJSON(raw)
		if err != nil {
			return nil, err
		}
		q.Aggregate = agg
	} else if tree := brackets["aggregate"]; tree != nil {
		agg, err := aggregateValue(normalizeBrackets(tree))
		if err != nil {
			return nil, err
		}
		q.Aggregate = agg
	}

	// Numbers.
	for _, name := range []string{"limit", "offset", "page"} {
		raw, ok, err := single(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		n, err := intValue(name, raw)
		if err != nil {
			return nil, err
		}
		setInt(q, name, n)
	}

	if raw, ok, err := single("search"); err != nil {
		return nil, err
	} else if ok {
		q.Search = &raw
	}
	return q, nil
}

// ParseObject parses a query given as an object, in object form
// ({"fields":["a"],"filter":{…},"limit":10}) or in the string form the SDK
// sends ({"fields":"a,b","filter":"<json>","limit":"10","sort":"-a"}).
// Unknown keys (deep, alias, export, …) are ignored.
func ParseObject(m map[string]any) (*hooks.Query, error) {
	q := &hooks.Query{}
	for _, name := range []string{"fields", "sort", "groupBy", "meta"} {
		v, ok := m[name]
		if !ok || v == nil {
			continue
		}
		list, err := listValue(name, v)
		if err != nil {
			return nil, err
		}
		if err := setList(q, name, list); err != nil {
			return nil, err
		}
	}
	if v, ok := m["filter"]; ok && v != nil {
		switch f := v.(type) {
		case map[string]any:
			q.Filter = f
		case string:
			parsed, err := parseFilterJSON(f)
			if err != nil {
				return nil, err
			}
			q.Filter = parsed
		default:
			return nil, errInvalid(`"filter" must be an object or a JSON string`)
		}
	}
	if v, ok := m["aggregate"]; ok && v != nil {
		var agg map[string][]string
		var err error
		if s, isString := v.(string); isString {
			agg, err = parseAggregateJSON(s)
		} else {
			agg, err = aggregateValue(v)
		}
		if err != nil {
			return nil, err
		}
		q.Aggregate = agg
	}
	for _, name := range []string{"limit", "offset", "page"} {
		v, ok := m[name]
		if !ok || v == nil {
			continue
		}
		n, err := intValue(name, v)
		if err != nil {
			return nil, err
		}
		setInt(q, name, n)
	}
	if v, ok := m["search"]; ok && v != nil {
		s, err := toString(v)
		if err != nil {
			return nil, errInvalid(`"search" must be a string`)
		}
		q.Search = &s
	}
	return q, nil
}

type indexedValue struct {
	idx   int
	value string
}

func isQueryParam(name string) bool {
	switch name {
	case "fields", "filter", "sort", "limit", "offset", "page", "search", "meta", "aggregate", "groupBy":
		return true
	}
	return false
}

// splitKey splits "filter[a][_eq]" into "filter" and ["a", "_eq"]
// ("fields[]" gives [""]). isBracket is false for plain names; path is nil
// for a malformed bracket key.
func splitKey(key string) (base string, path []string, isBracket bool) {
	i := strings.IndexByte(key, '[')
	if i < 0 {
		return key, nil, false
	}
	base, rest := key[:i], key[i:]
	path = []string{}
	for rest != "" {
		if rest[0] != '[' {
			return base, nil, true
		}
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return base, nil, true
		}
		path = append(path, rest[1:end])
		rest = rest[end+1:]
	}
	return base, path, true
}

// setPath stores value at path in a tree of maps; an empty segment
// ("[]") appends to a list.
func setPath(tree map[string]any, path []string, value string) error {
	m := tree
	for i, seg := range path {
		last := i == len(path)-1
		if seg == "" {
			return errors.New("[] may only end a parameter name")
		}
		if last {
			if _, exists := m[seg]; exists {
				return errors.New("the same key is given more than once")
			}
			m[seg] = bracketScalar(value)
			return nil
		}
		if path[i+1] == "" {
			if i+2 != len(path) {
				return errors.New("[] may only end a parameter name")
			}
			switch cur := m[seg].(type) {
			case nil:
				m[seg] = []any{bracketScalar(value)}
			case []any:
				m[seg] = append(cur, bracketScalar(value))
			default:
				return errors.New("a key is given both as a list and as a value")
			}
			return nil
		}
		switch cur := m[seg].(type) {
		case nil:
			child := map[string]any{}
			m[seg] = child
			m = child
		case map[string]any:
			m = cur
		default:
			return errors.New("a key is given both as an object and as a value")
		}
	}
	return nil
}

// bracketScalar reads a bracket-form value: "null" is null (as in
// Directus), everything else stays text and is coerced by field type.
func bracketScalar(s string) any {
	if s == "null" || s == "NULL" {
		return nil
	}
	return s
}

// normalizeBrackets turns objects whose keys are all indexes ("0", "1", …)
// into lists in index order (qs's array form, filter[_and][0][…]); the
// indexes only order the items, so a huge index costs nothing.
func normalizeBrackets(v any) any {
	switch x := v.(type) {
	case map[string]any:
		allIndexes := len(x) > 0
		for k := range x {
			if _, err := strconv.ParseUint(k, 10, 31); err != nil {
				allIndexes = false
				break
			}
		}
		for k, child := range x {
			x[k] = normalizeBrackets(child)
		}
		if !allIndexes {
			return x
		}
		idx := make([]int, 0, len(x))
		for k := range x {
			n, _ := strconv.Atoi(k)
			idx = append(idx, n)
		}
		slices.Sort(idx)
		out := make([]any, 0, len(idx))
		for _, n := range idx {
			out = append(out, x[strconv.Itoa(n)])
		}
		return out
	case []any:
		for i, child := range x {
			x[i] = normalizeBrackets(child)
		}
		return x
	}
	return v
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// listValue reads a list parameter given as a comma string or an array of
// strings.
func listValue(name string, v any) ([]string, error) {
	switch x := v.(type) {
	case string:
		return splitList(x), nil
	case []string:
		var out []string
		for _, s := range x {
			out = append(out, splitList(s)...)
		}
		return out, nil
	case []any:
		var out []string
		for _, item := range x {
			s, ok := item.(string)
			if !ok {
				return nil, errInvalid("%q must be a list of names", name)
			}
			out = append(out, splitList(s)...)
		}
		return out, nil
	}
	return nil, errInvalid("%q must be a comma-separated string or an array of names", name)
}

func setList(q *hooks.Query, name string, list []string) error {
	if list == nil {
		list = []string{}
	}
	switch name {
	case "fields":
		q.Fields = list
	case "sort":
		q.Sort = list
	case "groupBy":
		q.GroupBy = list
	case "meta":
		for _, m := range list {
			if m != "total_count" && m != "filter_count" && m != "*" {
				return errInvalid(`"meta" may only list total_count, filter_count or *, not %q`, m)
			}
		}
		q.Meta = list
	}
	return nil
}

// intValue reads limit/offset/page from a number or a numeric string.
func intValue(name string, v any) (int, error) {
	bad := errInvalid("%q must be an integer", name)
	var n int64
	switch x := v.(type) {
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, bad
		}
		n = i
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > math.MaxInt32 {
			return 0, bad
		}
		n = int64(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, bad
		}
		n = i
	case int:
		n = int64(x)
	case int64:
		n = x
	default:
		return 0, bad
	}
	if n < -1 || n > math.MaxInt32 {
		return 0, errInvalid("%q must be between -1 and %d", name, math.MaxInt32)
	}
	return int(n), nil
}

func setInt(q *hooks.Query, name string, n int) {
	switch name {
	case "limit":
		q.Limit = &n
	case "offset":
		q.Offset = &n
	case "page":
		q.Page = &n
	}
}

// decodeJSON decodes exactly one JSON value, numbers as json.Number so big
// integers keep their digits.
func decodeJSON(raw string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

func parseFilterJSON(raw string) (map[string]any, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, errInvalid(`"filter" is not valid JSON`)
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errInvalid(`"filter" must be a JSON object`)
	}
	return m, nil
}

func parseAggregateJSON(raw string) (map[string][]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, errInvalid(`"aggregate" is not valid JSON`)
	}
	return aggregateValue(v)
}

// aggregateValue reads {"count":"*","sum":["price"]} (values as a comma
// string or a list).
func aggregateValue(v any) (map[string][]string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errInvalid(`"aggregate" must be an object like {"count":"*"}`)
	}
	out := make(map[string][]string, len(m))
	for fn, fields := range m {
		list, err := listValue("aggregate", fields)
		if err != nil {
			return nil, err
		}
		out[fn] = list
	}
	return out, nil
}
