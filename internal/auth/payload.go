package auth

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/google/uuid"

	"github.com/hookd/hookd/hooks"
)

// payloadObject is the payload a filter left: it must still be an object.
func payloadObject(payload any) (map[string]any, error) {
	switch m := payload.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, hooks.InvalidPayload("the payload must be an object")
}

func optionalString(field string, v any) (*string, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		return &v, nil
	}
	return nil, hooks.InvalidPayload(fmt.Sprintf("%q must be a string or null", field))
}

func requiredString(field string, v any) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", hooks.InvalidPayload(fmt.Sprintf("%q must be a non-empty string", field))
	}
	return s, nil
}

func optionalUUID(field string, v any) (*string, error) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok {
		return nil, hooks.InvalidPayload(fmt.Sprintf("%q must be a UUID or null", field))
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return nil, hooks.InvalidPayload(fmt.Sprintf("%q must be a UUID or null", field))
	}
	norm := u.String()
	return &norm, nil
}

func optionalObject(field string, v any) (map[string]any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	}
	return nil, hooks.InvalidPayload(fmt.Sprintf("%q must be an object or null", field))
}

func boolean(field string, v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		return false, hooks.InvalidPayload(fmt.Sprintf("%q must be true or false", field))
	}
	return b, nil
}

// validEmail accepts a bare address (no display name), as Directus's
// email validation does.
func validEmail(email string) bool {
	if len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>") {
		return false
	}
	a, err := mail.ParseAddress(email)
	return err == nil && a.Address == email && a.Name == ""
}

// parseUUIDKey normalises a uuid key from a path or body; ok is false for
// anything that is not a uuid (which can match no row).
func parseUUIDKey(key string) (string, bool) {
	u, err := uuid.Parse(key)
	if err != nil {
		return "", false
	}
	return u.String(), true
}
