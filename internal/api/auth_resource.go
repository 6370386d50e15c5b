package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/auth"
)

// sysResource serves one system collection (/users, /roles, /permissions)
// with Directus's envelopes: `{data: …}` answers, 204 for deletes.
type sysResource struct {
	path       string // "/users"
	collection string // "directus_users"
	fields     []string
	list       func(ctx context.Context, acc *hooks.Accountability, lp *auth.ListParams) ([]hooks.Item, error)
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
			lp, fields, err := a.sysQuery(r, res)
			if err != nil {
				return err
			}
			items, err := res.list(r.Context(), AccountabilityFrom(r.Context()), lp)
			if err != nil {
				return err
			}
			return writeData(w, http.StatusOK, projectItems(items, fields))
		}))
		r.Get("/{key}", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			_, fields, err := a.sysQuery(r, res)
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
			fields, body, err := a.sysWriteInput(r, res)
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
			fields, body, err := a.sysWriteInput(r, res)
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
			fields, body, err := a.sysWriteInput(r, res)
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

// sysUnsupported are Directus query parameters the system collections do
// not implement: refusing them is better than silently ignoring a filter.
var sysUnsupported = []string{"filter", "sort", "search", "meta", "aggregate", "groupBy", "deep", "alias"}

// sysWriteInput is what every system-resource write starts from: the
// fields to answer with and the decoded body.
func (a *Auth) sysWriteInput(r *http.Request, res *sysResource) ([]string, any, error) {
	_, fields, err := a.sysQuery(r, res)
	if err != nil {
		return nil, nil, err
	}
	body, err := decodeBody(r)
	if err != nil {
		return nil, nil, err
	}
	return fields, body, nil
}

// sysQuery reads limit, offset, page and fields.
func (a *Auth) sysQuery(r *http.Request, res *sysResource) (*auth.ListParams, []string, error) {
	q := r.URL.Query()
	for _, p := range sysUnsupported {
		if q.Has(p) {
			return nil, nil, hooks.InvalidQuery(fmt.Sprintf("%q is not supported on %s", p, res.path))
		}
	}
	lp := &auth.ListParams{}
	limit := a.limitDefault
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < -1 {
			return nil, nil, hooks.InvalidQuery(`"limit" must be a non-negative integer or -1`)
		}
		limit = n
	}
	if limit >= 0 {
		lp.Limit = &limit
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, nil, hooks.InvalidQuery(`"offset" must be a non-negative integer`)
		}
		lp.Offset = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, nil, hooks.InvalidQuery(`"page" must be a positive integer`)
		}
		if limit >= 0 {
			lp.Offset = (n - 1) * limit
		}
	}
	var fields []string
	for _, v := range q["fields"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			if f != "*" && !slices.Contains(res.fields, f) {
				return nil, nil, hooks.InvalidQuery(fmt.Sprintf("Field %q does not exist in collection %q", f, res.collection))
			}
			fields = append(fields, f)
		}
	}
	if slices.Contains(fields, "*") {
		fields = nil
	}
	return lp, fields, nil
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
