package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/hooks"
)

// kind is how a field's values compare; it decides which operators apply,
// the SQL cast of a parameter and the Go value both back ends compare.
type kind int

const (
	kindOther     kind = iota // arrays, enums, timetz, …: only _null/_nnull/_empty/_nempty
	kindInt                   // int64
	kindFloat                 // float64
	kindFloat4                // float64 rounded to float32 (real columns)
	kindDecimal               // *big.Rat
	kindString                // string, byte-wise order
	kindBpchar                // string, trailing spaces insignificant (char(n))
	kindCIText                // string, compared lower-cased (citext)
	kindBool                  // bool
	kindUUID                  // canonical lower-case string
	kindDate                  // time.Time at UTC midnight
	kindTime                  // time.Duration since midnight
	kindDateTime              // time.Time, wall clock as UTC (timestamp)
	kindTimestamp             // time.Time instant (timestamptz)
	kindJSON                  // only _null/_nnull/_empty/_nempty
)

func kindOf(f *hooks.Field) kind {
	switch f.Type {
	case "integer", "bigInteger":
		return kindInt
	case "float":
		if f.DBType == "real" {
			return kindFloat4
		}
		return kindFloat
	case "decimal":
		return kindDecimal
	case "string":
		switch {
		case f.DBType == "citext":
			return kindCIText
		case strings.HasPrefix(f.DBType, "character(") || f.DBType == "character" || f.DBType == "bpchar":
			return kindBpchar
		}
		return kindString
	case "text":
		return kindString
	case "boolean":
		return kindBool
	case "uuid":
		return kindUUID
	case "date":
		return kindDate
	case "time":
		if strings.Contains(f.DBType, "with time zone") {
			return kindOther
		}
		return kindTime
	case "dateTime":
		return kindDateTime
	case "timestamp":
		return kindTimestamp
	case "json":
		return kindJSON
	}
	return kindOther
}

func (k kind) String() string {
	return [...]string{"unknown", "integer", "float", "float", "decimal", "string", "string", "string",
		"boolean", "uuid", "date", "time", "dateTime", "timestamp", "json"}[k]
}

// textual kinds take the string operators (_contains, _starts_with, …).
func (k kind) textual() bool {
	return k == kindString || k == kindBpchar || k == kindCIText || k == kindUUID
}

// ordered kinds take _lt/_lte/_gt/_gte/_between.
func (k kind) ordered() bool {
	switch k {
	case kindInt, kindFloat, kindFloat4, kindDecimal, kindString, kindBpchar, kindCIText,
		kindDate, kindTime, kindDateTime, kindTimestamp:
		return true
	}
	return false
}

// comparable kinds take _eq/_neq/_in/_nin.
func (k kind) comparable() bool { return k.ordered() || k == kindBool || k == kindUUID }

// sqlType is the cast applied to a bound parameter.
func (k kind) sqlType() string {
	switch k {
	case kindInt:
		return "int8"
	case kindFloat:
		return "float8"
	case kindFloat4:
		return "float4"
	case kindDecimal:
		return "numeric"
	case kindBool:
		return "bool"
	case kindUUID:
		return "uuid"
	case kindDate:
		return "date"
	case kindTime:
		return "time"
	case kindDateTime:
		return "timestamp"
	case kindTimestamp:
		return "timestamptz"
	}
	return "text"
}

var errNotValue = errors.New("not a value of this type")

// coerce turns a filter or row value into the Go value k compares. A
// variable ($NOW …) has already been resolved. nil stays nil.
func coerce(k kind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindInt:
		return toInt(v)
	case kindFloat, kindFloat4:
		f, err := toFloat(v)
		if err != nil {
			return nil, err
		}
		if k == kindFloat4 {
			f = float64(float32(f))
		}
		return f, nil
	case kindDecimal:
		return toRat(v)
	case kindString, kindBpchar, kindCIText:
		s, err := toString(v)
		if err != nil {
			return nil, err
		}
		if k == kindBpchar {
			s = strings.TrimRight(s, " ")
		}
		return s, nil
	case kindBool:
		return toBool(v)
	case kindUUID:
		s, ok := v.(string)
		if !ok {
			if u, isUUID := v.([16]byte); isUUID {
				return uuid.UUID(u).String(), nil
			}
			return nil, errNotValue
		}
		u, err := uuid.Parse(strings.TrimSpace(s))
		if err != nil {
			return nil, errNotValue
		}
		return u.String(), nil
	case kindDate:
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	case kindTime:
		return toTimeOfDay(v)
	case kindDateTime:
		t, err := toTime(v)
		if err != nil {
			return nil, err
		}
		return t, nil
	case kindTimestamp:
		return toTime(v)
	}
	return nil, errNotValue
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<63-1024 {
			return 0, errNotValue
		}
		return int64(x), nil
	case json.Number:
		return strconv.ParseInt(string(x), 10, 64)
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		if err != nil {
			return 0, errNotValue
		}
		return n, nil
	}
	return 0, errNotValue
}

func toFloat(v any) (float64, error) {
	var f float64
	var err error
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case int32:
		f = float64(x)
	case json.Number:
		f, err = strconv.ParseFloat(string(x), 64)
	case string:
		// Postgres writes NaN and ±Infinity as JSON strings; accept them in
		// row images, and reject them in filters (see coerceFilterValue).
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, errNotValue
	}
	if err != nil {
		return 0, errNotValue
	}
	return f, nil
}

func toRat(v any) (*big.Rat, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, errNotValue
		}
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return new(big.Rat).SetInt64(x), nil
	case int:
		return new(big.Rat).SetInt64(int64(x)), nil
	case *big.Rat:
		return x, nil
	default:
		return nil, errNotValue
	}
	// big.Rat also reads fractions ("1/3") and huge exponents; a decimal is
	// digits with an optional point and a bounded exponent.
	if !decimalRe.MatchString(s) {
		return nil, errNotValue
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, errNotValue
	}
	return r, nil
}

var decimalRe = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?$`)

func toString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case int:
		return strconv.Itoa(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", errNotValue
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1", "t", "yes", "on":
			return true, nil
		case "false", "0", "f", "no", "off":
			return false, nil
		}
	case float64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case json.Number:
		if x == "0" || x == "1" {
			return x == "1", nil
		}
	case int64:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	case int:
		if x == 0 || x == 1 {
			return x == 1, nil
		}
	}
	return false, errNotValue
}

// timeLayouts are the forms a date/time arrives in: ISO 8601 from clients,
// Postgres's JSON output (T separator, ±hh:mm) and its text output (space,
// ±hh).
var timeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// toTime parses a date/time. Without a zone the wall clock is taken as UTC;
// with one, the instant is converted to UTC, which for a timestamp without
// time zone means the UTC wall clock. Postgres keeps microseconds.
func toTime(v any) (time.Time, error) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		s := strings.TrimSpace(x)
		parsed := false
		for _, layout := range timeLayouts {
			if p, err := time.Parse(layout, s); err == nil {
				t, parsed = p, true
				break
			}
		}
		if !parsed {
			return time.Time{}, errNotValue
		}
	default:
		return time.Time{}, errNotValue
	}
	t = t.UTC().Round(time.Microsecond)
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errNotValue
	}
	return t, nil
}

// toTimeOfDay parses "15:04[:05[.ffffff]]" into the duration since
// midnight.
func toTimeOfDay(v any) (time.Duration, error) {
	switch x := v.(type) {
	case time.Time:
		u := x.UTC().Round(time.Microsecond)
		return time.Duration(u.Hour())*time.Hour + time.Duration(u.Minute())*time.Minute +
			time.Duration(u.Second())*time.Second + time.Duration(u.Nanosecond()), nil
	case time.Duration:
		return x, nil
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range []string{"15:04:05.999999999", "15:04"} {
			if t, err := time.Parse(layout, s); err == nil {
				d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
					time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
				return d.Round(time.Microsecond), nil
			}
		}
	}
	return 0, errNotValue
}

// compareValues orders two coerced values of kind k.
func compareValues(k kind, a, b any) int {
	switch k {
	case kindInt:
		return cmpOrdered(a.(int64), b.(int64))
	case kindFloat, kindFloat4:
		return cmpFloat(a.(float64), b.(float64))
	case kindDecimal:
		return a.(*big.Rat).Cmp(b.(*big.Rat))
	case kindCIText:
		return strings.Compare(strings.ToLower(a.(string)), strings.ToLower(b.(string)))
	case kindString, kindBpchar, kindUUID:
		return strings.Compare(a.(string), b.(string))
	case kindBool:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case kindDate, kindDateTime, kindTimestamp:
		return a.(time.Time).Compare(b.(time.Time))
	case kindTime:
		return cmpOrdered(a.(time.Duration), b.(time.Duration))
	}
	panic(fmt.Sprintf("query: compare on kind %v", k))
}

func cmpOrdered[T int64 | time.Duration](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// cmpFloat orders like Postgres: NaN equals NaN and sorts above everything.
func cmpFloat(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sqlArg is the bound form of a coerced value: Postgres parses the text of
// everything whose Go form pgx might encode differently (exact decimals,
// dates without zones).
func sqlArg(k kind, v any) any {
	switch k {
	case kindInt, kindFloat, kindFloat4, kindBool:
		return v
	case kindDecimal:
		return v.(*big.Rat).FloatString(decimalPlaces(v.(*big.Rat)))
	case kindDate:
		return v.(time.Time).Format("2006-01-02")
	case kindTime:
		d := v.(time.Duration)
		return fmt.Sprintf("%02d:%02d:%02d.%06d", int(d/time.Hour), int(d/time.Minute)%60, int(d/time.Second)%60,
			int(d%time.Second/time.Microsecond))
	case kindDateTime:
		return v.(time.Time).Format("2006-01-02T15:04:05.999999")
	case kindTimestamp:
		return v.(time.Time).Format("2006-01-02T15:04:05.999999Z07:00")
	}
	return v
}

// decimalPlaces is the number of fractional digits that write r exactly
// (r is a parsed finite decimal, so its denominator is 2^a·5^b: max(a, b)).
func decimalPlaces(r *big.Rat) int {
	count := func(p int64) int {
		d, q, m, bp := new(big.Int).Set(r.Denom()), new(big.Int), new(big.Int), big.NewInt(p)
		n := 0
		for d.Sign() != 0 {
			q.QuoRem(d, bp, m)
			if m.Sign() != 0 {
				break
			}
			d.Set(q)
			n++
		}
		return n
	}
	return max(count(2), count(5))
}

// nowRe matches $NOW and $NOW(<±n> <unit>).
var nowRe = regexp.MustCompile(`^\$NOW(?:\(\s*([+-]?)\s*(\d{1,9})\s*([a-zA-Z]+)\s*\))?$`)

// resolveVar replaces a filter variable by its value; other values pass
// through. ok is false for a malformed $NOW(…).
func resolveVar(v any, vars Vars) (any, bool) {
	s, isString := v.(string)
	if !isString || !strings.HasPrefix(s, "$") {
		return v, true
	}
	switch s {
	case "$CURRENT_USER":
		if vars.CurrentUser == "" {
			return nil, true
		}
		return vars.CurrentUser, true
	case "$CURRENT_ROLE":
		if vars.CurrentRole == "" {
			return nil, true
		}
		return vars.CurrentRole, true
	}
	if !strings.HasPrefix(s, "$NOW") {
		return v, true // other strings starting with $ are data
	}
	m := nowRe.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	now := vars.now().UTC().Round(time.Microsecond)
	if m[2] == "" {
		return now, true
	}
	n, _ := strconv.Atoi(m[2])
	if m[1] == "-" {
		n = -n
	}
	switch strings.ToLower(m[3]) {
	case "y", "year", "years":
		return now.AddDate(n, 0, 0), true
	case "month", "months":
		return now.AddDate(0, n, 0), true
	case "w", "week", "weeks":
		return now.AddDate(0, 0, 7*n), true
	case "d", "day", "days":
		return now.AddDate(0, 0, n), true
	case "h", "hour", "hours":
		return now.Add(time.Duration(n) * time.Hour), true
	case "m", "min", "mins", "minute", "minutes":
		return now.Add(time.Duration(n) * time.Minute), true
	case "s", "sec", "secs", "second", "seconds":
		return now.Add(time.Duration(n) * time.Second), true
	case "ms", "millisecond", "milliseconds":
		return now.Add(time.Duration(n) * time.Millisecond), true
	}
	return nil, false
}
