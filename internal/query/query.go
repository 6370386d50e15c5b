// Package query implements the Directus query language over one collection:
// one parser (ParseURL for `?fields=…&filter=…`, ParseObject for the object
// and string forms the SDK and WebSocket subscriptions send) and two back
// ends for the same parsed filter — SQL (Select, Count, Aggregate, Keys,
// Where) and in-memory evaluation against a row image (Match), which
// realtime uses to decide whether an event concerns a subscription.
//
// Parsing checks syntax only; compiling checks every identifier against the
// collection, coerces every value to its field's type, and binds every value
// as a parameter. Errors a client caused are *hooks.Error (400
// INVALID_QUERY naming the parameter or field, 403 FORBIDDEN for a field the
// caller may not read).
//
// The two back ends agree by construction: both evaluate the same compiled
// condition tree with SQL's three-valued logic (a NULL never satisfies a
// comparison, and NOT of unknown is unknown), strings compare byte-wise
// (COLLATE "C" in SQL), and values are coerced once, in Go, before either
// back end sees them.
package query

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hookd/hookd/hooks"
)

// Vars are the values of the filter variables $NOW, $CURRENT_USER and
// $CURRENT_ROLE.
type Vars struct {
	// Now is $NOW; zero means the time of compilation.
	Now time.Time
	// CurrentUser and CurrentRole are the caller's ids; "" (public) makes
	// the variable null.
	CurrentUser, CurrentRole string
}

// Options carry what the caller's configuration and permissions add to a
// query. A nil *Options means the defaults and no restriction.
type Options struct {
	// Schema is the Postgres schema holding the collection's table
	// (DB_SCHEMA). Default "" = unqualified (search_path).
	Schema string
	// DefaultLimit is used when q.Limit is nil (QUERY_LIMIT_DEFAULT).
	// Default 100.
	DefaultLimit int
	// MaxLimit caps limit; a larger limit (or -1) is clamped to it
	// (QUERY_LIMIT_MAX). -1 = no cap; default 0 also means no cap.
	MaxLimit int
	// Permission is the caller's item rule (a Directus filter, may use the
	// variables), ANDed into every WHERE. Its fields are not subject to
	// ReadableFields. nil = every item.
	Permission map[string]any
	// ReadableFields are the fields the caller may read; nil or ["*"] =
	// all. Using another field in fields, filter, sort, search, aggregate
	// or groupBy is 403 FORBIDDEN, as in Directus.
	ReadableFields []string
	// Vars are the variables' values.
	Vars Vars
	// Table is the table that holds the collection when it is not named
	// after it (the system collections: directus_users is hookd_users).
	// Default "" = the collection's name.
	Table string
}

// Statement is SQL with its bound arguments.
type Statement struct {
	SQL  string
	Args []any
}

// Predicate evaluates a compiled filter against a row image (field name →
// value, as JSON-decoded or as scanned by pgx). A field missing from the
// row counts as NULL.
type Predicate func(row hooks.Item) bool

// maxFilterDepth bounds nesting so a hostile filter can neither exhaust
// Postgres's expression stack nor ours.
const maxFilterDepth = 32

// maxFilterNodes bounds the number of conditions in one filter.
const maxFilterNodes = 1000

func (o *Options) defaults() *Options {
	if o == nil {
		return &Options{DefaultLimit: 100, MaxLimit: -1}
	}
	out := *o
	out.DefaultLimit = cmp.Or(out.DefaultLimit, 100)
	if out.MaxLimit == 0 {
		out.MaxLimit = -1
	}
	return &out
}

func (o *Options) readable(name string) bool {
	if o.ReadableFields == nil || slices.Contains(o.ReadableFields, "*") {
		return true
	}
	return slices.Contains(o.ReadableFields, name)
}

func (v Vars) now() time.Time {
	if v.Now.IsZero() {
		return time.Now()
	}
	return v.Now
}

// errInvalid is 400 INVALID_QUERY with a formatted reason.
func errInvalid(format string, args ...any) *hooks.Error {
	return hooks.InvalidQuery(fmt.Sprintf(format, args...))
}

// field resolves name in c for use in param ("fields", "filter", "sort",
// …): unknown and relational names are INVALID_QUERY, unreadable ones
// FORBIDDEN (unless checkReadable is false, for permission rules).
func field(c *hooks.Collection, o *Options, param, name string, checkReadable bool) (*hooks.Field, error) {
	if strings.Contains(name, ".") {
		return nil, errInvalid("Nested relational field %q in %q is not supported", name, param)
	}
	f := c.Fields[name]
	if f == nil {
		return nil, errInvalid("Field %q in %q does not exist in collection %q", name, param, c.Name)
	}
	if checkReadable && !o.readable(name) {
		return nil, hooks.Forbidden()
	}
	return f, nil
}
