// Package validatetitle is the seed's "cancel a create" example: a blocking
// filter on items.create that rejects an item whose title is blank with
// InvalidPayload (HTTP 400), before anything is written.
package validatetitle

import (
	"context"
	"strings"

	"github.com/hookd/hookd/hooks"
)

// Extension is the compiled-in extension "validate-title".
var Extension = hooks.Extension{ID: "validate-title", Register: register}

func register(r hooks.Registrar, _ *hooks.Context) error {
	r.Filter("items.create", validate, hooks.Name("title"))
	return nil
}

// validate cancels the create when the payload has a "title" that is not
// a non-blank string; items without a title field pass untouched.
func validate(_ context.Context, payload any, _ hooks.Meta, _ hooks.EventContext) (any, error) {
	item, ok := payload.(hooks.Item)
	if !ok {
		return payload, nil
	}
	title, present := item["title"]
	if !present {
		return payload, nil
	}
	s, isString := title.(string)
	if !isString || strings.TrimSpace(s) == "" {
		return nil, hooks.InvalidPayload(`"title" must be a non-blank string`)
	}
	return payload, nil
}
