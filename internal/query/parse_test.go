package query_test

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/query"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		want  *hooks.Query
	}{
		{"empty", "", &hooks.Query{}},
		{"fields comma", "fields=id,title, body", &hooks.Query{Fields: []string{"id", "title", "body"}}},
		{"fields repeated", "fields=id&fields=title", &hooks.Query{Fields: []string{"id", "title"}}},
		{"fields brackets", "fields[]=id&fields[]=title", &hooks.Query{Fields: []string{"id", "title"}}},
		{"fields indexed", "fields[1]=title&fields[0]=id", &hooks.Query{Fields: []string{"id", "title"}}},
		{"fields star", "fields=*", &hooks.Query{Fields: []string{"*"}}},
		{"sort", "sort=-date,title", &hooks.Query{Sort: []string{"-date", "title"}}},
		{"sort brackets", "sort[]=-date&sort[]=title", &hooks.Query{Sort: []string{"-date", "title"}}},
		{"limit offset page", "limit=10&offset=5&page=2", &hooks.Query{Limit: ptr(10), Offset: ptr(5), Page: ptr(2)}},
		{"limit all", "limit=-1", &hooks.Query{Limit: ptr(-1)}},
		{"search", "search=hello%20world", &hooks.Query{Search: ptr("hello world")}},
		{"search empty", "search=", &hooks.Query{Search: ptr("")}},
		{"meta", "meta=total_count,filter_count", &hooks.Query{Meta: []string{"total_count", "filter_count"}}},
		{"meta star", "meta=*", &hooks.Query{Meta: []string{"*"}}},
		{"filter json", `filter={"status":{"_eq":"draft"}}`,
			&hooks.Query{Filter: map[string]any{"status": map[string]any{"_eq": "draft"}}}},
		{"filter json keeps big numbers", `filter={"id":{"_eq":9007199254740993}}`,
			&hooks.Query{Filter: map[string]any{"id": map[string]any{"_eq": json.Number("9007199254740993")}}}},
		{"filter null json", `filter=null`, &hooks.Query{}},
		{"filter brackets", "filter[status][_eq]=draft&filter[rating][_gt]=3",
			&hooks.Query{Filter: map[string]any{"status": map[string]any{"_eq": "draft"}, "rating": map[string]any{"_gt": "3"}}}},
		{"filter brackets null", "filter[status][_eq]=null",
			&hooks.Query{Filter: map[string]any{"status": map[string]any{"_eq": nil}}}},
		{"filter brackets nested and", "filter[_and][0][a][_eq]=1&filter[_and][1][b][_eq]=2",
			&hooks.Query{Filter: map[string]any{"_and": []any{
				map[string]any{"a": map[string]any{"_eq": "1"}},
				map[string]any{"b": map[string]any{"_eq": "2"}},
			}}}},
		{"filter brackets sparse huge index", "filter[_or][9999999][a][_eq]=1&filter[_or][3][b][_eq]=2",
			&hooks.Query{Filter: map[string]any{"_or": []any{
				map[string]any{"b": map[string]any{"_eq": "2"}},
				map[string]any{"a": map[string]any{"_eq": "1"}},
			}}}},
		{"filter brackets list", "filter[id][_in][]=1&filter[id][_in][]=2",
			&hooks.Query{Filter: map[string]any{"id": map[string]any{"_in": []any{"1", "2"}}}}},
		{"filter brackets indexed list", "filter[id][_in][1]=2&filter[id][_in][0]=1",
			&hooks.Query{Filter: map[string]any{"id": map[string]any{"_in": []any{"1", "2"}}}}},
		{"aggregate json", `aggregate={"count":"*","sum":["price","qty"]}`,
			&hooks.Query{Aggregate: map[string][]string{"count": {"*"}, "sum": {"price", "qty"}}}},
		{"aggregate brackets", "aggregate[count]=*&aggregate[sum]=price,qty&aggregate[avg][]=qty",
			&hooks.Query{Aggregate: map[string][]string{"count": {"*"}, "sum": {"price", "qty"}, "avg": {"qty"}}}},
		{"groupBy", "groupBy=category,year", &hooks.Query{GroupBy: []string{"category", "year"}}},
		{"groupBy brackets", "groupBy[]=category", &hooks.Query{GroupBy: []string{"category"}}},
		{"other params ignored", "access_token=x&deep[a][_limit]=1&export=json", &hooks.Query{}},
		{"sql-looking values stay text", `filter[title][_eq]=x'%20OR%201=1%3B%20--&sort=title`,
			&hooks.Query{Filter: map[string]any{"title": map[string]any{"_eq": "x' OR 1=1; --"}}, Sort: []string{"title"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			got, err := query.ParseURL(values)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query string
		parts []string
	}{
		{"limit=ten", []string{`"limit" must be an integer`}},
		{"limit=-2", []string{`"limit" must be between -1`}},
		{"limit=1.5", []string{`"limit"`}},
		{"limit=99999999999", []string{`"limit"`}},
		{"offset=x", []string{`"offset" must be an integer`}},
		{"page=1&page=2", []string{`"page" is given more than once`}},
		{"filter={bad", []string{`"filter" is not valid JSON`}},
		{`filter=[1,2]`, []string{`"filter" must be a JSON object`}},
		{`filter={"a":1} trailing`, []string{`"filter" is not valid JSON`}},
		{`filter={"a":{"_eq":1}}&filter[b][_eq]=2`, []string{`"filter" is given both`}},
		{"filter[a][_eq]=1&filter[a][_eq]=2", []string{`"filter"`, "more than once"}},
		{"filter[a][_eq]=1&filter[a][_eq][x]=2", []string{`"filter"`}},
		{"filter[a", []string{`"filter[a" is not a valid parameter name`}},
		{"filter[]=1", []string{`"filter"`}},
		{"aggregate={x", []string{`"aggregate" is not valid JSON`}},
		{`aggregate=["count"]`, []string{`"aggregate" must be an object`}},
		{"meta=everything", []string{`"meta" may only list`}},
		{"fields[a][b]=x", []string{`"fields" must be a list of names`}},
		{"fields[x]=x", []string{`"fields" must be a list of names`}},
		{"limit[x]=1", []string{`"limit" does not take brackets`}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			values, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			_, err = query.ParseURL(values)
			requireQueryError(t, err, "INVALID_QUERY", tc.parts...)
		})
	}
}

func TestParseObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want *hooks.Query
	}{
		{"object form", `{"fields":["id","title"],"filter":{"id":{"_gt":1}},"sort":["-id"],"limit":10,"offset":2,"page":1,
			"search":"x","meta":["total_count"],"aggregate":{"count":["*"]},"groupBy":["status"]}`,
			&hooks.Query{Fields: []string{"id", "title"}, Filter: map[string]any{"id": map[string]any{"_gt": json.Number("1")}},
				Sort: []string{"-id"}, Limit: ptr(10), Offset: ptr(2), Page: ptr(1), Search: ptr("x"), Meta: []string{"total_count"},
				Aggregate: map[string][]string{"count": {"*"}}, GroupBy: []string{"status"}}},
		{"SDK string form", `{"fields":"id,title","filter":"{\"id\":{\"_gt\":1}}","sort":"-id,title","limit":"10",
			"offset":"2","meta":"*","aggregate":"{\"sum\":\"price\"}","groupBy":"status"}`,
			&hooks.Query{Fields: []string{"id", "title"}, Filter: map[string]any{"id": map[string]any{"_gt": json.Number("1")}},
				Sort: []string{"-id", "title"}, Limit: ptr(10), Offset: ptr(2), Meta: []string{"*"},
				Aggregate: map[string][]string{"sum": {"price"}}, GroupBy: []string{"status"}}},
		{"nulls and unknown keys", `{"fields":null,"filter":null,"deep":{"a":{"_limit":1}},"alias":{}}`, &hooks.Query{}},
		{"empty filter string", `{"filter":""}`, &hooks.Query{}},
		{"limit all", `{"limit":-1}`, &hooks.Query{Limit: ptr(-1)}},
		{"numeric search", `{"search":42}`, &hooks.Query{Search: ptr("42")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := query.ParseObject(decode(t, tc.in))
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	// Plain float64 numbers (encoding/json without UseNumber) work too.
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"limit":25,"page":3}`), &m))
	got, err := query.ParseObject(m)
	require.NoError(t, err)
	require.Equal(t, &hooks.Query{Limit: ptr(25), Page: ptr(3)}, got)
}

func TestParseObjectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		parts []string
	}{
		{`{"limit":"abc"}`, []string{`"limit" must be an integer`}},
		{`{"limit":1.5}`, []string{`"limit" must be an integer`}},
		{`{"limit":true}`, []string{`"limit" must be an integer`}},
		{`{"page":-5}`, []string{`"page" must be between`}},
		{`{"fields":42}`, []string{`"fields" must be a comma-separated string or an array`}},
		{`{"fields":[1,2]}`, []string{`"fields" must be a list of names`}},
		{`{"filter":42}`, []string{`"filter" must be an object or a JSON string`}},
		{`{"filter":"{nope"}`, []string{`"filter" is not valid JSON`}},
		{`{"filter":"[]"}`, []string{`"filter" must be a JSON object`}},
		{`{"aggregate":"x"}`, []string{`"aggregate" is not valid JSON`}},
		{`{"aggregate":{"count":5}}`, []string{`"aggregate"`}},
		{`{"meta":"sum"}`, []string{`"meta" may only list`}},
		{`{"search":{"a":1}}`, []string{`"search" must be a string`}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := query.ParseObject(decode(t, tc.in))
			requireQueryError(t, err, "INVALID_QUERY", tc.parts...)
		})
	}
}
