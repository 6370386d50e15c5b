package query_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
)

// fuzzCollection has a field of every kind; the fuzzers compile against it
// without a database.
var fuzzCollection = func() *hooks.Collection {
	c := &hooks.Collection{Name: "things", PrimaryKey: "id", Fields: map[string]*hooks.Field{}}
	for _, f := range []hooks.Field{
		{Name: "id", Type: "integer", DBType: "integer", IsPrimaryKey: true},
		{Name: "name", Type: "text", DBType: "text", Nullable: true},
		{Name: "code", Type: "string", DBType: "character varying(20)", Nullable: true},
		{Name: "fixed", Type: "string", DBType: "character(4)", Nullable: true},
		{Name: "ci", Type: "string", DBType: "citext", Nullable: true},
		{Name: "big", Type: "bigInteger", DBType: "bigint", Nullable: true},
		{Name: "price", Type: "decimal", DBType: "numeric(12,2)", Nullable: true},
		{Name: "ratio", Type: "float", DBType: "double precision", Nullable: true},
		{Name: "score", Type: "float", DBType: "real", Nullable: true},
		{Name: "active", Type: "boolean", DBType: "boolean", Nullable: true},
		{Name: "uid", Type: "uuid", DBType: "uuid", Nullable: true},
		{Name: "day", Type: "date", DBType: "date", Nullable: true},
		{Name: "at", Type: "time", DBType: "time without time zone", Nullable: true},
		{Name: "local", Type: "dateTime", DBType: "timestamp without time zone", Nullable: true},
		{Name: "created", Type: "timestamp", DBType: "timestamp with time zone", Nullable: true},
		{Name: "doc", Type: "json", DBType: "jsonb", Nullable: true},
		{Name: "tags", Type: "unknown", DBType: "text[]", Nullable: true},
	} {
		f := f
		c.Fields[f.Name] = &f
		c.FieldOrder = append(c.FieldOrder, f.Name)
	}
	return c
}()

var fuzzRows = []hooks.Item{
	{"id": json.Number("1"), "name": "Alpha", "code": "A-1", "fixed": "ab  ", "ci": "Hello", "big": json.Number("9007199254740993"),
		"price": json.Number("10.50"), "ratio": json.Number("1.5"), "score": json.Number("0.1"), "active": true,
		"uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "day": "2024-01-15", "at": "10:00:00", "local": "2024-01-15T10:00:00",
		"created": "2024-03-10T11:00:00+00:00", "doc": map[string]any{"a": json.Number("1")}, "tags": []any{"x"}},
	{"id": json.Number("2"), "ratio": "NaN", "score": "Infinity", "name": "", "created": "garbage", "price": "NaN"},
	{},
}

// checkCompiles asserts the fuzzers' property: a parsed query either
// compiles or fails with a *hooks.Error, and never panics.
func checkCompiles(t *testing.T, q *hooks.Query) {
	t.Helper()
	o := &query.Options{ReadableFields: []string{"*"}, MaxLimit: 1000, Vars: query.Vars{Now: time.Unix(1700000000, 0), CurrentUser: "u1"},
		Permission: map[string]any{"active": map[string]any{"_nnull": true}}}
	expectHookErr := func(what string, err error) {
		t.Helper()
		if err == nil {
			return
		}
		if _, ok := hooks.AsError(err); !ok {
			t.Fatalf("%s: error is not a *hooks.Error: %v", what, err)
		}
	}
	st, err := query.Select(fuzzCollection, q, o)
	expectHookErr("Select", err)
	if err == nil && !strings.HasPrefix(st.SQL, "SELECT ") {
		t.Fatalf("unexpected SQL %q", st.SQL)
	}
	_, err = query.Count(fuzzCollection, q, o, true)
	expectHookErr("Count", err)
	_, err = query.Keys(fuzzCollection, q, o)
	expectHookErr("Keys", err)
	if len(q.Aggregate) > 0 || len(q.GroupBy) > 0 {
		_, err = query.Aggregate(fuzzCollection, q, o)
		expectHookErr("Aggregate", err)
	}
	_, _, err = query.Where(fuzzCollection, q.Filter, o, 1)
	expectHookErr("Where", err)
	match, err := query.Match(fuzzCollection, q.Filter, o.Vars)
	expectHookErr("Match", err)
	if err == nil {
		for _, row := range fuzzRows {
			match(row)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, seed := range []string{
		"fields=id,name&sort=-id&limit=10&offset=2&page=3&meta=*&search=al",
		`filter={"_or":[{"name":{"_icontains":"a"}},{"id":{"_in":[1,2]}}]}`,
		"filter[created][_gt]=$NOW(-1 day)&filter[_and][0][price][_between]=1,5",
		"aggregate[count]=*&aggregate[sum]=price&groupBy=code&sort=code",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		values, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := query.ParseURL(values)
		if err != nil {
			if _, ok := hooks.AsError(err); !ok {
				t.Fatalf("ParseURL error is not a *hooks.Error: %v", err)
			}
			return
		}
		checkCompiles(t, q)
	})
}

func FuzzParseObject(f *testing.F) {
	for _, seed := range []string{
		`{"fields":"id,name","filter":"{\"id\":{\"_gt\":1}}","limit":"10","sort":"-id"}`,
		`{"fields":["*"],"filter":{"day":{"_eq":"$NOW"}},"aggregate":{"max":["created"]},"groupBy":["active"]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil || m == nil {
			return
		}
		q, err := query.ParseObject(m)
		if err != nil {
			if _, ok := hooks.AsError(err); !ok {
				t.Fatalf("ParseObject error is not a *hooks.Error: %v", err)
			}
			return
		}
		checkCompiles(t, q)
	})
}
