package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/auth"
	"github.com/hookd/hookd/internal/query"
)

// sysResource serves one system collection (/users, /roles, /permissions)
// with Directus's envelopes: `{data: …}` answers, 204 for deletes.
type sysResource struct {
	path       string // "/users"
	collection string // "directus_users"
	fields     []string
	list       func(ctx context.Context, acc *hooks.Accountability, lp *auth.ListParams) ([]hooks.Item, map[string]any, error)
	read       func(ctx context.Context, acc *hooks.Accountability, key string) (hooks.Item, error)
	create     func(ctx context.Context, acc *hooks.Accountability, payloads []map[string]any) ([]hooks.Item, error)
	update     func(ctx context.Context, acc *hooks.Accountability, keys []string, payload map[string]any) ([]hooks.Item, error)
	delete     func(ctx context.Context, acc *hooks.Accountability, keys []string) error
}

func (a *Auth) mountResource(s *Server, r chi.Router, res *sysResource, extra func(r chi.Router)) {
	r.Route(res.path, func(r chi.Router) {
		if extra != nil {
			extra(r)
		}
		r.Get("/", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			q, fields, err := sysListQuery(r, res)
			if err != nil {
				return err
			}
			items, meta, err := res.list(r.Context(), AccountabilityFrom(r.Context()),
				&auth.ListParams{Query: q, DefaultLimit: a.limitDefault, MaxLimit: a.limitMax})
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, dataBody{Data: projectItems(items, fields), Meta: meta})
			return nil
		}))
		r.Get("/{key}", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			fields, err := sysFields(r, res)
			if err != nil {
				return err
			}
			item, err := res.read(r.Context(), AccountabilityFrom(r.Context()), chi.URLParam(r, "key"))
			if err != nil {
				return err
			}
			return writeData(w, http.StatusOK, projectItem(item, fields))
		}))
		r.Post("/", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			fields, body, err := sysWriteInput(r, res)
			if err != nil {
				return err
			}
			switch b := body.(type) {
			case map[string]any:
				items, err := res.create(r.Context(), AccountabilityFrom(r.Context()), []map[string]any{b})
				if err != nil {
					return err
				}
				return writeData(w, http.StatusOK, projectItem(items[0], fields))
			case []any:
				payloads, err := sysObjects(b)
				if err != nil {
					return err
				}
				items, err := res.create(r.Context(), AccountabilityFrom(r.Context()), payloads)
				if err != nil {
					return err
				}
				return writeData(w, http.StatusOK, projectItems(items, fields))
			}
			return hooks.InvalidPayload("The body must be an object or an array of objects")
		}))
		r.Patch("/{key}", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			fields, body, err := sysWriteInput(r, res)
			if err != nil {
				return err
			}
			payload, ok := body.(map[string]any)
			if !ok {
				return hooks.InvalidPayload("The body must be an object")
			}
			items, err := res.update(r.Context(), AccountabilityFrom(r.Context()), []string{chi.URLParam(r, "key")}, payload)
			if err != nil {
				return err
			}
			return writeData(w, http.StatusOK, projectItem(items[0], fields))
		}))
		r.Patch("/", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			fields, body, err := sysWriteInput(r, res)
			if err != nil {
				return err
			}
			b, ok := body.(map[string]any)
			if !ok {
				return hooks.InvalidPayload(`The body must be an object with "keys" and "data"`)
			}
			keys, err := sysKeys(b["keys"])
			if err != nil {
				return err
			}
			payload, ok := b["data"].(map[string]any)
			if !ok {
				return hooks.InvalidPayload(`"data" must be an object`)
			}
			items, err := res.update(r.Context(), AccountabilityFrom(r.Context()), keys, payload)
			if err != nil {
				return err
			}
			return writeData(w, http.StatusOK, projectItems(items, fields))
		}))
		r.Delete("/{key}", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			if err := res.delete(r.Context(), AccountabilityFrom(r.Context()), []string{chi.URLParam(r, "key")}); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}))
		r.Delete("/", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			body, err := decodeBody(r)
			if err != nil {
				return err
			}
			var rawKeys any = body
			if b, ok := body.(map[string]any); ok {
				rawKeys = b["keys"]
			}
			keys, err := sysKeys(rawKeys)
			if err != nil {
				return err
			}
			if err := res.delete(r.Context(), AccountabilityFrom(r.Context()), keys); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}))
	})
}

// sysListOnly are the query parameters that select items, which only a
// list takes: single reads and writes refuse them rather than ignore them.
// (limit, offset and page cannot change what one item is; they are
// ignored there, as Directus does.)
var sysListOnly = []string{"filter", "sort", "search", "meta"}

// sysUnsupported are Directus query parameters the system collections do
// not implement: refusing them is better than silently ignoring them.
var sysUnsupported = []string{"aggregate", "groupBy", "deep", "alias"}

// sysWriteInput is what every system-resource write starts from: the
// fields to answer with and the decoded body.
func sysWriteInput(r *http.Request, res *sysResource) ([]string, any, error) {
	fields, err := sysFields(r, res)
	if err != nil {
		return nil, nil, err
	}
	body, err := decodeBody(r)
	if err != nil {
		return nil, nil, err
	}
	return fields, body, nil
}

// sysListQuery parses a list's query: the Directus query language (filter,
// search, sort, limit, offset, page, meta; the auth service checks the
// names) and the fields to answer with.
func sysListQuery(r *http.Request, res *sysResource) (*hooks.Query, []string, error) {
	if err := refuseParams(r, sysUnsupported); err != nil {
		return nil, nil, err
	}
	q, err := query.ParseURL(r.URL.Query())
	if err != nil {
		return nil, nil, err
	}
	fields, err := res.checkFields(q.Fields)
	if err != nil {
		return nil, nil, err
	}
	q.Fields = nil
	return q, fields, nil
}

// sysFields reads the fields a single read or a write answers with.
func sysFields(r *http.Request, res *sysResource) ([]string, error) {
	if err := refuseParams(r, append(sysListOnly, sysUnsupported...)); err != nil {
		return nil, err
	}
	only := url.Values{}
	for key, values := range r.URL.Query() {
		if base, _, _ := strings.Cut(key, "["); base == "fields" { // fields=…, fields[]=…
			only[key] = values
		}
	}
	q, err := query.ParseURL(only)
	if err != nil {
		return nil, err
	}
	return res.checkFields(q.Fields)
}

// refuseParams answers INVALID_QUERY when the request has one of names,
// plain or in bracket form (filter[email][_eq]=…).
func refuseParams(r *http.Request, names []string) error {
	for key := range r.URL.Query() {
		base, _, _ := strings.Cut(key, "[")
		if slices.Contains(names, base) {
			return hooks.InvalidQuery(fmt.Sprintf("%q is not supported on %s %s", base, r.Method, r.URL.Path))
		}
	}
	return nil
}

// checkFields checks the names of `fields` (as query.ParseURL gives them:
// trimmed, none empty) against the collection; nil means every field.
func (res *sysResource) checkFields(names []string) ([]string, error) {
	for _, f := range names {
		if f != "*" && !slices.Contains(res.fields, f) {
			return nil, hooks.InvalidQuery(fmt.Sprintf("Field %q does not exist in collection %q", f, res.collection))
		}
	}
	if slices.Contains(names, "*") {
		return nil, nil
	}
	return names, nil
}

func projectItem(item hooks.Item, fields []string) hooks.Item {
	if fields == nil {
		return item
	}
	out := make(hooks.Item, len(fields))
	for _, f := range fields {
		if v, ok := item[f]; ok {
			out[f] = v
		}
	}
	return out
}

func projectItems(items []hooks.Item, fields []string) []hooks.Item {
	out := make([]hooks.Item, len(items))
	for i, it := range items {
		out[i] = projectItem(it, fields)
	}
	return out
}

func writeData(w http.ResponseWriter, status int, data any) error {
	writeJSON(w, status, map[string]any{"data": data})
	return nil
}

func sysObjects(list []any) ([]map[string]any, error) {
	out := make([]map[string]any, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, hooks.InvalidPayload(fmt.Sprintf("Element %d is not an object", i))
		}
		out[i] = m
	}
	return out, nil
}

// sysKeys reads a non-empty array of keys (strings or numbers).
func sysKeys(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, hooks.InvalidPayload(`"keys" must be a non-empty array`)
	}
	keys := make([]string, len(list))
	for i, k := range list {
		switch k := k.(type) {
		case string:
			keys[i] = k
		case json.Number:
			keys[i] = k.String()
		default:
			return nil, hooks.InvalidPayload(`"keys" must hold strings or numbers`)
		}
	}
	return keys, nil
}
