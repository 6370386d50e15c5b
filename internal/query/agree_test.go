package query_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
)

// now is $NOW in the agreement test; the rows' dates are placed around it.
var now = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

var thingsDDL = []string{
	`CREATE EXTENSION IF NOT EXISTS citext`,
	`CREATE TABLE things (
		id      integer PRIMARY KEY,
		name    text,
		code    varchar(20),
		fixed   char(4),
		ci      citext,
		qty     integer,
		big     bigint,
		price   numeric(12,2),
		ratio   double precision,
		score   real,
		active  boolean,
		uid     uuid,
		day     date,
		at      time,
		local   timestamp,
		created timestamptz,
		doc     jsonb,
		tags    text[]
	)`,
	`INSERT INTO things VALUES
	 (1, 'Alpha', 'A-1', 'ab', 'Hello', 10, 9007199254740993, 10.50, 1.5, 0.1, true,
	  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-15', '10:00', '2024-01-15 10:00',
	  '2024-03-10 11:00:00+00', '{"a":1}', '{x}'),
	 (2, 'alpha beta', 'b_2', 'abcd', 'HELLO', 20, -5, 0.00, -2.25, 2.5, false,
	  'B0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12', '2024-02-29', '23:59:59.5', '2024-02-29 23:59:59',
	  '2024-03-08 12:00:00+00', 'null', '{}'),
	 (3, 'Ünïcödé Straße', '100%', NULL, 'straße', NULL, 0, 99999999.99, 'NaN', NULL, NULL,
	  NULL, NULL, NULL, NULL, '2024-03-11 12:00:00+00', NULL, NULL),
	 (4, '', '', '  ', '', 0, 1, -1.50, 'Infinity', -0.5, true,
	  'c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13', '1999-12-31', '00:00', '1999-12-31 00:00',
	  '2023-02-04 12:00:00+00', '[]', '{a,b}'),
	 (5, NULL, NULL, NULL, NULL, -3, NULL, NULL, NULL, NULL, false,
	  NULL, '2024-03-10', NULL, '2024-03-10 10:00', '2024-03-10 11:30:00+00', NULL, NULL),
	 (6, 'Robert''); DROP TABLE things;--', 'x\y', 'x_%', 'o''brien', 5, 42, 5, 0, 0, true,
	  'd0eebc99-9c0b-4ef8-bb6d-6bb9bd380a14', '2024-03-11', '12:00', '2024-03-11 12:00',
	  '2024-03-10 12:00:00+00', '{"b":[1,2]}', '{y}'),
	 (7, 'ÉCOLE', 'ÉCOLE', 'é', 'École', 7, 7, 7.77, 7.7, 7.7, false,
	  'e0eebc99-9c0b-4ef8-bb6d-6bb9bd380a15', '2024-03-09', '11:59:59', '2024-03-09 11:59:59',
	  '2024-03-09 12:00:01+02', '{}', '{}'),
	 (8, '10', '10', '10', '10', 100, 10, 10, 10, 10, true,
	  'f0eebc99-9c0b-4ef8-bb6d-6bb9bd380a16', '2025-01-01', '10:00:00.000001', '2030-01-01 00:00',
	  '2030-01-01 00:00:00+00', '10', '{10}')`,
	`ALTER TABLE things ADD COLUMN pj json`,
	`UPDATE things SET pj = doc::json`,
}

type agreeCase struct {
	name   string
	filter string // JSON
	// want are the expected ids; nil means "only check that both back ends
	// agree".
	want []int
}

var agreeCases = []agreeCase{
	// equality and NULL handling
	{"eq text", `{"name":{"_eq":"Alpha"}}`, []int{1}},
	{"eq is case-sensitive", `{"name":{"_eq":"alpha"}}`, []int{}},
	{"eq null", `{"name":{"_eq":null}}`, []int{5}},
	{"neq excludes nulls", `{"name":{"_neq":"Alpha"}}`, []int{2, 3, 4, 6, 7, 8}},
	{"neq null", `{"name":{"_neq":null}}`, []int{1, 2, 3, 4, 6, 7, 8}},
	{"null true", `{"qty":{"_null":true}}`, []int{3}},
	{"null false", `{"qty":{"_null":false}}`, []int{1, 2, 4, 5, 6, 7, 8}},
	{"nnull", `{"name":{"_nnull":true}}`, []int{1, 2, 3, 4, 6, 7, 8}},
	{"null as string", `{"qty":{"_null":"true"}}`, []int{3}},
	// numbers, also given as strings
	{"int gt", `{"qty":{"_gt":5}}`, []int{1, 2, 7, 8}},
	{"int gt string", `{"qty":{"_gt":"5"}}`, []int{1, 2, 7, 8}},
	{"int lte", `{"qty":{"_lte":0}}`, []int{4, 5}},
	{"int in", `{"qty":{"_in":[10,"20",999]}}`, []int{1, 2}},
	{"int in comma string", `{"qty":{"_in":"0,5"}}`, []int{4, 6}},
	{"int in empty", `{"qty":{"_in":[]}}`, []int{}},
	{"int nin", `{"qty":{"_nin":[10,20]}}`, []int{4, 5, 6, 7, 8}},
	{"int nin empty keeps nulls", `{"qty":{"_nin":[]}}`, []int{1, 2, 3, 4, 5, 6, 7, 8}},
	{"int between", `{"qty":{"_between":[0,10]}}`, []int{1, 4, 6, 7}},
	{"int between reversed", `{"qty":{"_between":[10,0]}}`, []int{}},
	{"int nbetween", `{"qty":{"_nbetween":["0","10"]}}`, []int{2, 5, 8}},
	{"bigint beyond float precision", `{"big":{"_eq":9007199254740993}}`, []int{1}},
	{"bigint neighbour", `{"big":{"_eq":"9007199254740992"}}`, []int{}},
	{"bigint lt", `{"big":{"_lt":1}}`, []int{2, 3}},
	{"decimal eq", `{"price":{"_eq":"10.5"}}`, []int{1}},
	{"decimal eq number", `{"price":{"_eq":10.50}}`, []int{1}},
	{"decimal gte", `{"price":{"_gte":7.77}}`, []int{1, 3, 7, 8}},
	{"decimal lt zero", `{"price":{"_lt":0}}`, []int{4}},
	{"float gt", `{"ratio":{"_gt":1}}`, []int{1, 3, 4, 7, 8}},
	{"float NaN equals NaN", `{"ratio":{"_eq":"NaN"}}`, []int{3}},
	{"float lt Infinity", `{"ratio":{"_lt":"Infinity"}}`, []int{1, 2, 6, 7, 8}},
	{"real eq 0.1", `{"score":{"_eq":0.1}}`, []int{1}},
	{"real eq 7.7", `{"score":{"_eq":"7.7"}}`, []int{7}},
	{"real between", `{"score":{"_between":[0,2.5]}}`, []int{1, 2, 6}},
	// booleans
	{"bool true", `{"active":{"_eq":true}}`, []int{1, 4, 6, 8}},
	{"bool string", `{"active":{"_eq":"false"}}`, []int{2, 5, 7}},
	{"bool neq", `{"active":{"_neq":true}}`, []int{2, 5, 7}},
	{"bool in", `{"active":{"_in":[true,false]}}`, []int{1, 2, 4, 5, 6, 7, 8}},
	// strings: LIKE family
	{"contains", `{"name":{"_contains":"lpha"}}`, []int{1, 2}},
	{"contains case", `{"name":{"_contains":"ALPHA"}}`, []int{}},
	{"icontains", `{"name":{"_icontains":"ALPHA"}}`, []int{1, 2}},
	{"icontains unicode", `{"name":{"_icontains":"üNÏCÖDÉ"}}`, []int{3}},
	{"icontains école", `{"name":{"_icontains":"école"}}`, []int{7}},
	{"ncontains excludes nulls", `{"name":{"_ncontains":"a"}}`, []int{4, 6, 7, 8}},
	{"contains percent is literal", `{"code":{"_contains":"%"}}`, []int{3}},
	{"contains underscore is literal", `{"code":{"_contains":"_"}}`, []int{2}},
	{"contains backslash", `{"code":{"_contains":"\\"}}`, []int{6}},
	{"contains empty string", `{"name":{"_contains":""}}`, []int{1, 2, 3, 4, 6, 7, 8}},
	{"starts_with", `{"name":{"_starts_with":"Al"}}`, []int{1}},
	{"istarts_with", `{"name":{"_istarts_with":"al"}}`, []int{1, 2}},
	{"nstarts_with", `{"name":{"_nstarts_with":"Al"}}`, []int{2, 3, 4, 6, 7, 8}},
	{"ends_with", `{"name":{"_ends_with":"ße"}}`, []int{3}},
	{"iends_with", `{"name":{"_iends_with":"OLE"}}`, []int{7}},
	{"nends_with", `{"name":{"_nends_with":"a"}}`, []int{3, 4, 6, 7, 8}},
	{"sql stays data", `{"name":{"_eq":"Robert'); DROP TABLE things;--"}}`, []int{6}},
	{"sql in contains", `{"name":{"_contains":"'); DROP"}}`, []int{6}},
	{"string lt byte order", `{"name":{"_lt":"a"}}`, []int{1, 4, 6, 8}},
	{"string gte unicode", `{"name":{"_gte":"É"}}`, []int{3, 7}},
	{"string between", `{"code":{"_between":["A","c"]}}`, []int{1, 2}},
	{"number as string field", `{"code":{"_eq":10}}`, []int{8}},
	{"varchar in", `{"code":{"_in":["A-1","ÉCOLE","nope"]}}`, []int{1, 7}},
	// char(n): padding is not significant
	{"char eq", `{"fixed":{"_eq":"ab"}}`, []int{1}},
	{"char eq padded", `{"fixed":{"_eq":"ab  "}}`, []int{1}},
	{"char ends", `{"fixed":{"_ends_with":"b"}}`, []int{1}},
	{"char empty", `{"fixed":{"_empty":true}}`, []int{3, 4, 5}},
	{"char like literal", `{"fixed":{"_starts_with":"x_"}}`, []int{6}},
	// citext: comparisons ignore case, LIKE does not
	{"citext eq", `{"ci":{"_eq":"hello"}}`, []int{1, 2}},
	{"citext in", `{"ci":{"_in":["HELLO","ÉCOLE"]}}`, []int{1, 2, 7}},
	{"citext neq", `{"ci":{"_neq":"hello"}}`, []int{3, 4, 6, 7, 8}},
	{"citext contains is case-sensitive", `{"ci":{"_contains":"ELL"}}`, []int{2}},
	{"citext icontains", `{"ci":{"_icontains":"ell"}}`, []int{1, 2}},
	{"citext lt", `{"ci":{"_lt":"I"}}`, []int{1, 2, 4, 8}},
	// empty
	{"empty text", `{"name":{"_empty":true}}`, []int{4, 5}},
	{"nempty text", `{"name":{"_nempty":true}}`, []int{1, 2, 3, 6, 7, 8}},
	{"empty false", `{"name":{"_empty":false}}`, []int{1, 2, 3, 6, 7, 8}},
	{"empty int", `{"qty":{"_empty":true}}`, []int{3}},
	{"empty json", `{"doc":{"_empty":true}}`, []int{2, 3, 5}},
	{"JSON null is null", `{"doc":{"_null":true}}`, []int{2, 3, 5}},
	{"nnull json", `{"doc":{"_nnull":true}}`, []int{1, 4, 6, 7, 8}},
	{"json (not jsonb) null", `{"pj":{"_null":true}}`, []int{2, 3, 5}},
	{"json (not jsonb) nempty", `{"pj":{"_nempty":true}}`, []int{1, 4, 6, 7, 8}},
	{"empty array column", `{"tags":{"_nempty":true}}`, []int{1, 2, 4, 6, 7, 8}},
	// uuid
	{"uuid eq upper input", `{"uid":{"_eq":"A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"}}`, []int{1}},
	{"uuid in", `{"uid":{"_in":["b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12","c0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"]}}`, []int{2, 4}},
	{"uuid contains", `{"uid":{"_starts_with":"b0ee"}}`, []int{2}},
	{"uuid nin", `{"uid":{"_nin":["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]}}`, []int{2, 4, 6, 7, 8}},
	// dates and $NOW
	{"date eq $NOW", `{"day":{"_eq":"$NOW"}}`, []int{5}},
	{"date lt $NOW", `{"day":{"_lt":"$NOW"}}`, []int{1, 2, 4, 7}},
	{"date gt $NOW(-2 days)", `{"day":{"_gt":"$NOW(-2 days)"}}`, []int{5, 6, 7, 8}},
	{"date between", `{"day":{"_between":["2024-01-01","2024-02-29"]}}`, []int{1, 2}},
	{"date given as datetime", `{"day":{"_eq":"2024-03-11T23:00:00"}}`, []int{6}},
	{"timestamptz gt $NOW(-1 hour)", `{"created":{"_gt":"$NOW(-1 hour)"}}`, []int{3, 5, 6, 8}},
	{"timestamptz gte $NOW", `{"created":{"_gte":"$NOW"}}`, []int{3, 6, 8}},
	{"timestamptz lt $NOW(-1 day)", `{"created":{"_lt":"$NOW(-1 day)"}}`, []int{2, 4, 7}},
	{"timestamptz $NOW(+2 hours)", `{"created":{"_between":["$NOW","$NOW(+2 hours)"]}}`, []int{6}},
	{"timestamptz offset input", `{"created":{"_eq":"2024-03-09T10:00:01Z"}}`, []int{7}},
	{"timestamptz year", `{"created":{"_lt":"$NOW(-1 year)"}}`, []int{4}},
	{"timestamptz no zone is UTC", `{"created":{"_eq":"2024-03-10T12:00:00"}}`, []int{6}},
	{"timestamp lt $NOW", `{"local":{"_lt":"$NOW"}}`, []int{1, 2, 4, 5, 7}},
	{"timestamp gt $NOW(-2 hours)", `{"local":{"_gte":"$NOW(-2 hours)"}}`, []int{5, 6, 8}},
	{"timestamp zone converted", `{"local":{"_eq":"2024-03-10T12:00:00+02:00"}}`, []int{5}},
	{"time gt", `{"at":{"_gt":"10:00"}}`, []int{2, 6, 7, 8}},
	{"time eq fraction", `{"at":{"_eq":"23:59:59.5"}}`, []int{2}},
	{"time in", `{"at":{"_in":["00:00:00","12:00"]}}`, []int{4, 6}},
	// logic
	{"implicit and", `{"qty":{"_gt":0},"active":{"_eq":true}}`, []int{1, 6, 8}},
	{"two ops on a field", `{"qty":{"_gt":0,"_lt":20}}`, []int{1, 6, 7}},
	{"or", `{"_or":[{"name":{"_eq":"Alpha"}},{"qty":{"_lt":0}}]}`, []int{1, 5}},
	{"and in or", `{"_or":[{"_and":[{"active":{"_eq":true}},{"qty":{"_gte":10}}]},{"name":{"_null":true}}]}`, []int{1, 5, 8}},
	{"or with null branch", `{"_or":[{"qty":{"_gt":50}},{"score":{"_lt":0}}]}`, []int{4, 8}},
	{"and of or", `{"_and":[{"_or":[{"qty":{"_eq":10}},{"qty":{"_eq":20}}]},{"active":{"_eq":false}}]}`, []int{2}},
	{"empty and", `{"_and":[]}`, []int{1, 2, 3, 4, 5, 6, 7, 8}},
	{"empty or", `{"_or":[]}`, []int{}},
	{"empty filter", `{}`, []int{1, 2, 3, 4, 5, 6, 7, 8}},
	{"not via neq on nullable", `{"_or":[{"active":{"_neq":true}},{"active":{"_null":true}}]}`, []int{2, 3, 5, 7}},
	{"nin with null row and nbetween", `{"qty":{"_nbetween":[-100,100]}}`, []int{}},
	{"deep nesting", `{"_and":[{"_and":[{"_or":[{"_and":[{"qty":{"_eq":7}}]}]}]}]}`, []int{7}},
	// variables
	// Public: $CURRENT_USER is null, so _eq means IS NULL (as in Directus).
	{"current user null", `{"code":{"_eq":"$CURRENT_USER"}}`, []int{5}},
	{"current role", `{"code":{"_eq":"$CURRENT_ROLE"}}`, []int{1}},
	{"dollar string is data", `{"name":{"_neq":"$SOMETHING"}}`, []int{1, 2, 3, 4, 6, 7, 8}},
}

// TestSQLAndMemoryAgree runs every filter through Postgres (Select) and
// through Match on the rows' JSON images, and requires the same ids.
func TestSQLAndMemoryAgree(t *testing.T) {
	t.Parallel()
	b := setup(t, thingsDDL...)
	c := b.collection(t, "things")
	vars := query.Vars{Now: now, CurrentRole: "A-1"}
	all := b.rows(t, must(query.Select(c, &hooks.Query{Limit: ptr(-1)}, &query.Options{Vars: vars})))
	require.Len(t, all, 8)

	nontrivial := 0
	for _, tc := range agreeCases {
		t.Run(tc.name, func(t *testing.T) {
			filter := decode(t, tc.filter)
			st, err := query.Select(c, &hooks.Query{Filter: filter, Fields: []string{"id"}, Limit: ptr(-1)},
				&query.Options{Vars: vars})
			require.NoError(t, err)
			sqlIDs := ids(b.rows(t, st))

			match, err := query.Match(c, filter, vars)
			require.NoError(t, err)
			memIDs := []int{}
			for _, row := range all {
				if match(row) {
					memIDs = append(memIDs, id(row))
				}
			}
			require.Equal(t, sqlIDs, memIDs, "SQL and memory disagree on %s\nSQL: %s %v", tc.filter, st.SQL, st.Args)
			if tc.want != nil {
				require.Equal(t, tc.want, sqlIDs, "filter %s", tc.filter)
			}

			// Where (UPDATE/DELETE … WHERE) is the same condition.
			w, args, err := query.Where(c, filter, &query.Options{Vars: vars}, 1)
			require.NoError(t, err)
			whereIDs := []int{}
			rows, err := b.db.Pool.Query(t.Context(), "SELECT id FROM things WHERE "+w+" ORDER BY id", args...)
			require.NoError(t, err)
			for rows.Next() {
				var n int
				require.NoError(t, rows.Scan(&n))
				whereIDs = append(whereIDs, n)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, sqlIDs, whereIDs)
		})
		if len(tc.want) > 0 && len(tc.want) < len(all) {
			nontrivial++
		}
	}
	require.Greater(t, nontrivial, 80)
}

// TestMatchAcceptsScannedRows: row images may also come from pgx scans
// (int64, float64, time.Time, bool) rather than JSON.
func TestMatchAcceptsScannedRows(t *testing.T) {
	t.Parallel()
	c := &hooks.Collection{Name: "t", PrimaryKey: "id", Fields: map[string]*hooks.Field{
		"id":      {Name: "id", Type: "integer", DBType: "integer"},
		"price":   {Name: "price", Type: "decimal", DBType: "numeric"},
		"created": {Name: "created", Type: "timestamp", DBType: "timestamp with time zone"},
		"active":  {Name: "active", Type: "boolean", DBType: "boolean"},
	}, FieldOrder: []string{"id", "price", "created", "active"}}
	match, err := query.Match(c, decode(t, `{"id":{"_in":[1,2]},"price":{"_gt":"1.5"},"created":{"_lt":"$NOW"},"active":{"_eq":true}}`),
		query.Vars{Now: now})
	require.NoError(t, err)
	require.True(t, match(hooks.Item{"id": int64(2), "price": 1.75, "created": now.Add(-time.Minute), "active": true}))
	require.True(t, match(hooks.Item{"id": 1, "price": "2", "created": "2024-01-01T00:00:00+02:00", "active": true}))
	require.False(t, match(hooks.Item{"id": int64(3), "price": 1.75, "created": now.Add(-time.Minute), "active": true}))
	require.False(t, match(hooks.Item{"id": int64(2), "price": 1.5, "created": now.Add(-time.Minute), "active": true}))
	require.False(t, match(hooks.Item{"id": int64(2), "price": 1.75, "created": now, "active": true}))
	require.False(t, match(hooks.Item{"id": int64(2), "price": 1.75, "created": now.Add(-time.Minute)}))
	require.False(t, match(hooks.Item{"id": "garbage", "price": 1.75, "created": now.Add(-time.Minute), "active": true}))
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), s)
	return m
}

func id(row map[string]any) int {
	var n int
	_, _ = fmt.Sscan(fmt.Sprint(row["id"]), &n)
	return n
}

func ids(rows []map[string]any) []int {
	out := []int{}
	for _, r := range rows {
		out = append(out, id(r))
	}
	slices.Sort(out)
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestMatchNowIsEvaluationTime: without a fixed Now, $NOW moves with the
// clock, so a subscription's filter stays right as time passes.
func TestMatchNowIsEvaluationTime(t *testing.T) {
	t.Parallel()
	c := fuzzCollection
	// A second ahead: the first check below must run before it passes,
	// even on a loaded machine.
	soon := time.Now().Add(time.Second)
	row := hooks.Item{"created": soon.Format(time.RFC3339Nano)}
	live, err := query.Match(c, decode(t, `{"created":{"_lt":"$NOW"}}`), query.Vars{})
	require.NoError(t, err)
	frozen, err := query.Match(c, decode(t, `{"created":{"_lt":"$NOW"}}`), query.Vars{Now: soon.Add(-time.Hour)})
	require.NoError(t, err)
	require.False(t, live(row))
	require.Eventually(t, func() bool { return live(row) }, 5*time.Second, 10*time.Millisecond)
	require.False(t, frozen(row))
}
