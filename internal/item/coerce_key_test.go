package item

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// referenceKeyJSON is what decodeKeyJSON must agree with: encoding/json's
// validity and its value with exact numbers.
func referenceKeyJSON(raw []byte) (any, error) {
	if !json.Valid(raw) {
		return nil, errors.New("invalid JSON")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}

var keyJSONSeeds = []string{
	`1`, `0`, `-7`, `9223372036854775807`, `92233720368547758070`, `01`, `-`, `1.5`, `1e3`, `-0`,
	`"abc"`, `"0b6c4e8a-2f0d-4c59-9b8e-3b1f0f2f1a11"`, `""`, `"a\"b"`, `"\u00e9"`, `"é"`, `"a` + "\x01" + `"`,
	`"` + "\xff" + `"`, `null`, `true`, `{"a":1}`, `[1]`, ` 1`, `1 `, `"a"x`, `""""`,
}

func FuzzDecodeKeyJSON(f *testing.F) {
	for _, s := range keyJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := referenceKeyJSON(raw)
		got, err := decodeKeyJSON(raw)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeKeyJSON(%q): error %v, encoding/json: %v", raw, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeKeyJSON(%q) = %#v, encoding/json: %#v", raw, got, want)
		}
	})
}
