package item

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/hookd/hookd/hooks"
)

// fieldError is 400 INVALID_PAYLOAD naming the field, for a value of the
// wrong type.
func fieldError(field, format string, args ...any) *hooks.Error {
	e := hooks.InvalidPayload(fmt.Sprintf("%q ", field) + fmt.Sprintf(format, args...))
	e.Extensions = map[string]any{"field": field}
	return e
}

// coerceValue turns a JSON-compatible value into what is bound for column f,
// rejecting a value of the wrong type with an error that names the field.
// Strings the database must parse (timestamps, dates, numerics given as
// text) are passed as text and parsed by Postgres; a value pgx would convert
// lossily (5.5 into an integer column) is refused here instead.
func coerceValue(f *hooks.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case "integer", "bigInteger":
		n, ok := toInt64(v)
		if !ok {
			return nil, fieldError(f.Name, "must be an integer")
		}
		if !intFits(f, n) {
			return nil, fieldError(f.Name, "is out of range")
		}
		return n, nil
	case "float", "decimal":
		s, ok := numberText(v)
		if !ok {
			return nil, fieldError(f.Name, "must be a number")
		}
		return s, nil
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return nil, fieldError(f.Name, "must be a boolean")
		}
		return b, nil
	case "uuid":
		s, ok := v.(string)
		if !ok {
			return nil, fieldError(f.Name, "must be a UUID string")
		}
		if _, err := uuid.Parse(s); err != nil {
			return nil, fieldError(f.Name, "must be a valid UUID")
		}
		return s, nil
	case "json":
		// Bound as JSON text so that a JSON string is stored as a string,
		// not parsed as a document.
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fieldError(f.Name, "must be JSON")
		}
		return string(b), nil
	case "string", "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case bool:
			return strconv.FormatBool(x), nil
		}
		if s, ok := numberText(v); ok {
			return s, nil
		}
		return nil, fieldError(f.Name, "must be a string")
	case "date", "time", "dateTime", "timestamp":
		switch x := v.(type) {
		case string:
			return x, nil
		case time.Time:
			return x, nil
		}
		return nil, fieldError(f.Name, "must be a date/time string")
	default:
		// Arrays and other types pgx and Postgres know how to take.
		switch v.(type) {
		case map[string]any:
			return nil, fieldError(f.Name, "must not be an object")
		}
		return v, nil
	}
}

// toInt64 accepts whole numbers of any Go numeric kind, json.Number and
// decimal strings ("12").
func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), x <= math.MaxInt64
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), x <= math.MaxInt64
	case float32:
		return floatToInt(float64(x))
	case float64:
		return floatToInt(x)
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n, true
		}
		if f, err := x.Float64(); err == nil {
			return floatToInt(f)
		}
		return 0, false
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// intFits reports whether n fits f's integer column (pgx refuses, on the
// client, to bind a value its column type cannot hold).
func intFits(f *hooks.Field, n int64) bool {
	switch f.DBType {
	case "smallint":
		return n >= math.MinInt16 && n <= math.MaxInt16
	case "integer":
		return n >= math.MinInt32 && n <= math.MaxInt32
	}
	return true
}

func floatToInt(f float64) (int64, bool) {
	if f != math.Trunc(f) || math.IsInf(f, 0) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int64(f), true
}

// numberText renders a number (or a numeric string) as Postgres numeric
// text, keeping every digit a json.Number or string carries.
func numberText(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		if _, ok := new(big.Float).SetString(x.String()); ok {
			return x.String(), true
		}
		return "", false
	case string:
		s := strings.TrimSpace(x)
		if _, ok := new(big.Float).SetString(s); ok && s != "" {
			return s, true
		}
		return "", false
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case bool:
		return "", false
	}
	if n, ok := toInt64(v); ok {
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// coerceKey turns a key from a URL, a body or a hook into the primary key's
// type: int64 for integer keys, string otherwise. ok is false for a key
// that cannot exist (a malformed integer or UUID), which callers answer like
// a missing item.
func coerceKey(pk *hooks.Field, v any) (any, bool) {
	switch pk.Type {
	case "integer", "bigInteger":
		n, ok := toInt64(v)
		return n, ok && intFits(pk, n)
	case "uuid":
		s, ok := v.(string)
		if !ok {
			return nil, false
		}
		u, err := uuid.Parse(s)
		if err != nil {
			return nil, false
		}
		return u.String(), true
	default:
		switch x := v.(type) {
		case string:
			return x, true
		case nil, bool, map[string]any, []any:
			return nil, false
		}
		if s, ok := numberText(v); ok {
			return s, true
		}
		return nil, false
	}
}

// coerceKeys coerces every key; dropped reports whether any could not exist.
func coerceKeys(pk *hooks.Field, keys []any) (out []any, dropped bool) {
	out = make([]any, 0, len(keys))
	seen := make(map[any]bool, len(keys))
	for _, k := range keys {
		ck, ok := coerceKey(pk, k)
		if !ok {
			dropped = true
			continue
		}
		if seen[ck] {
			continue
		}
		seen[ck] = true
		out = append(out, ck)
	}
	return out, dropped
}

// decodeKeyJSON decodes one JSON value as the item service's decoder does
// (numbers as json.Number). Keys are nearly always a bare integer or a
// string without escapes, which Postgres renders one way only; those skip
// encoding/json, which costs a create more than anything else in reading
// its result.
func decodeKeyJSON(raw json.RawMessage) (any, error) {
	if isJSONInteger(raw) {
		return json.Number(raw), nil
	}
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && !bytes.ContainsAny(raw[1:n-1], "\\\"") &&
		utf8.Valid(raw[1:n-1]) && !bytes.ContainsFunc(raw[1:n-1], func(r rune) bool { return r < 0x20 }) {
		return string(raw[1 : n-1]), nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the key")
	}
	return v, nil
}

// isJSONInteger reports whether b is a JSON integer: an optional minus,
// then 0 or digits not starting with 0.
func isJSONInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 1 && b[0] == '0' {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// keyFromJSON decodes a key read back from the database (to_jsonb of the
// key column) into the type coerceKey produces.
func keyFromJSON(pk *hooks.Field, raw json.RawMessage) (any, error) {
	v, err := decodeKeyJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("decoding key %s: %w", raw, err)
	}
	k, ok := coerceKey(pk, v)
	if !ok {
		return nil, fmt.Errorf("key %s does not fit primary key type %s", raw, pk.Type)
	}
	return k, nil
}
