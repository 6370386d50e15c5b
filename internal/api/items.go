package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/internal/item"
	"github.com/hookd/hookd/internal/query"
)

// ItemsRoutes mounts Directus's items endpoints (/items/{collection}…) on
// the server, served by items with the request's accountability. Pass it in
// Config.Mount.
func ItemsRoutes(items *item.Service) func(s *Server, r chi.Router) {
	return func(s *Server, r chi.Router) {
		h := &itemsHandler{items: items}
		r.Route("/items/{collection}", func(r chi.Router) {
			r.Get("/", s.Handle(h.list))
			r.Post("/", s.Handle(h.create))
			r.Patch("/", s.Handle(h.updateMany))
			r.Delete("/", s.Handle(h.deleteMany))
			r.Get("/{id}", s.Handle(h.readOne))
			r.Patch("/{id}", s.Handle(h.updateOne))
			r.Delete("/{id}", s.Handle(h.deleteOne))
		})
	}
}

type itemsHandler struct {
	items *item.Service
}

// dataBody is the success envelope; meta only when the query asked for it.
type dataBody struct {
	Data any            `json:"data"`
	Meta map[string]any `json:"meta,omitempty"`
}

// service is the collection's item service for the request's caller.
func (h *itemsHandler) service(r *http.Request) (*item.Items, error) {
	return h.items.Collection(chi.URLParam(r, "collection"),
		&hooks.ServiceOptions{Accountability: AccountabilityFrom(r.Context())})
}

// writeInput is what every write starts from: the URL query (the fields to
// answer with), the decoded body, and the caller's service for the
// collection.
func (h *itemsHandler) writeInput(r *http.Request) (*hooks.Query, any, *item.Items, error) {
	q, err := query.ParseURL(r.URL.Query())
	if err != nil {
		return nil, nil, nil, err
	}
	body, err := decodeBody(r)
	if err != nil {
		return nil, nil, nil, err
	}
	svc, err := h.service(r)
	if err != nil {
		return nil, nil, nil, err
	}
	return q, body, svc, nil
}

// readInput is what every item read takes: the URL's query and the
// collection's service for the caller.
func (h *itemsHandler) readInput(r *http.Request) (*hooks.Query, *item.Items, error) {
	q, err := query.ParseURL(r.URL.Query())
	if err != nil {
		return nil, nil, err
	}
	svc, err := h.service(r)
	if err != nil {
		return nil, nil, err
	}
	return q, svc, nil
}

func (h *itemsHandler) list(w http.ResponseWriter, r *http.Request) error {
	q, svc, err := h.readInput(r)
	if err != nil {
		return err
	}
	res, err := svc.Read(r.Context(), q)
	if err != nil {
		return err
	}
	return writeDocs(w, res.Docs, res.Meta)
}

func (h *itemsHandler) readOne(w http.ResponseWriter, r *http.Request) error {
	q, svc, err := h.readInput(r)
	if err != nil {
		return err
	}
	it, err := svc.ReadOne(r.Context(), chi.URLParam(r, "id"), q)
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, dataBody{Data: it})
	return nil
}

// create is POST /items/{collection}: an object creates one item and
// answers it, an array creates many and answers them; both are read back
// with the caller's permissions and the query's fields, and a caller who
// may not read the result gets 204.
func (h *itemsHandler) create(w http.ResponseWriter, r *http.Request) error {
	q, body, svc, err := h.writeInput(r)
	if err != nil {
		return err
	}
	switch b := body.(type) {
	case map[string]any:
		_, created, err := svc.CreateOneDoc(r.Context(), b, q)
		if err != nil {
			return err
		}
		if created == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return writeDoc(w, created)
	case []any:
		items, err := asItemList(b)
		if err != nil {
			return err
		}
		keys, err := svc.CreateMany(r.Context(), items)
		if err != nil {
			return err
		}
		return readBackMany(w, r, svc, keys, q)
	}
	return hooks.InvalidPayload("Expected an object or an array of objects")
}

func (h *itemsHandler) updateOne(w http.ResponseWriter, r *http.Request) error {
	q, body, svc, err := h.writeInput(r)
	if err != nil {
		return err
	}
	data, ok := body.(map[string]any)
	if !ok {
		return hooks.InvalidPayload("Expected an object")
	}
	key, err := svc.UpdateOne(r.Context(), chi.URLParam(r, "id"), data)
	if err != nil {
		return err
	}
	return readBackOne(w, r, svc, key, q)
}

// updateMany is PATCH /items/{collection} with {keys, data}, {query, data}
// or an array of partial items that carry their keys.
func (h *itemsHandler) updateMany(w http.ResponseWriter, r *http.Request) error {
	q, body, svc, err := h.writeInput(r)
	if err != nil {
		return err
	}
	var keys []any
	switch b := body.(type) {
	case []any:
		items, err := asItemList(b)
		if err != nil {
			return err
		}
		if keys, err = svc.UpdateBatch(r.Context(), items); err != nil {
			return err
		}
	case map[string]any:
		data, ok := b["data"].(map[string]any)
		if !ok {
			return hooks.InvalidPayload(`"data" is required and must be an object`)
		}
		switch {
		case b["keys"] != nil:
			list, ok := b["keys"].([]any)
			if !ok {
				return hooks.InvalidPayload(`"keys" must be an array`)
			}
			if keys, err = svc.UpdateMany(r.Context(), list, data); err != nil {
				return err
			}
		case b["query"] != nil:
			bq, err := bodyQuery(b["query"])
			if err != nil {
				return err
			}
			if keys, err = svc.UpdateByQuery(r.Context(), bq, data); err != nil {
				return err
			}
		default:
			return hooks.InvalidPayload(`Either "keys" or "query" is required`)
		}
	default:
		return hooks.InvalidPayload("Expected an object or an array of objects")
	}
	return readBackMany(w, r, svc, keys, q)
}

func (h *itemsHandler) deleteOne(w http.ResponseWriter, r *http.Request) error {
	svc, err := h.service(r)
	if err != nil {
		return err
	}
	if _, err := svc.DeleteOne(r.Context(), chi.URLParam(r, "id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteMany is DELETE /items/{collection} with {keys}, {query} or a bare
// array of keys.
func (h *itemsHandler) deleteMany(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeBody(r)
	if err != nil {
		return err
	}
	svc, err := h.service(r)
	if err != nil {
		return err
	}
	switch b := body.(type) {
	case []any:
		_, err = svc.DeleteMany(r.Context(), b)
	case map[string]any:
		switch {
		case b["keys"] != nil:
			list, ok := b["keys"].([]any)
			if !ok {
				return hooks.InvalidPayload(`"keys" must be an array`)
			}
			_, err = svc.DeleteMany(r.Context(), list)
		case b["query"] != nil:
			bq, qerr := bodyQuery(b["query"])
			if qerr != nil {
				return qerr
			}
			_, err = svc.DeleteByQuery(r.Context(), bq)
		default:
			return hooks.InvalidPayload(`Either "keys" or "query" is required`)
		}
	default:
		return hooks.InvalidPayload("Expected an array of keys or an object with keys or query")
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readBackOne answers a write with the item as the caller may read it, or
// 204 when the caller may not read it (Directus).
func readBackOne(w http.ResponseWriter, r *http.Request, svc *item.Items, key any, q *hooks.Query) error {
	return readBack(w, func() (any, error) { return svc.ReadOne(r.Context(), key, q) })
}

// readBackMany is readBackOne for several written items.
func readBackMany(w http.ResponseWriter, r *http.Request, svc *item.Items, keys []any, q *hooks.Query) error {
	return readBack(w, func() (any, error) { return svc.ReadMany(r.Context(), keys, q) })
}

// readBack writes what read returns as {"data":…}, or 204 when read is
// forbidden: the one place that rule lives.
func readBack(w http.ResponseWriter, read func() (any, error)) error {
	data, err := read()
	if isForbidden(err) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	WriteJSON(w, http.StatusOK, dataBody{Data: data})
	return nil
}

// writeDocs answers {"data":[…],"meta":…} (meta only when set) with items
// that already are JSON documents (Postgres renders them): they are copied
// into the body as they are. Through encoding/json each one would be
// validated and compacted again, the largest CPU cost of a list answer.
func writeDocs(w http.ResponseWriter, docs []json.RawMessage, meta map[string]any) error {
	var metaJSON []byte
	if len(meta) > 0 {
		var err error
		if metaJSON, err = json.Marshal(meta); err != nil {
			return fmt.Errorf("encoding meta: %w", err)
		}
	}
	size := len(`{"data":[],"meta":}`) + 5*len(docs) + len(metaJSON) + 1
	for _, d := range docs {
		size += len(d)
	}
	body := make([]byte, 0, size)
	body = append(body, `{"data":[`...)
	for i, d := range docs {
		if i > 0 {
			body = append(body, ',')
		}
		if len(d) == 0 {
			d = json.RawMessage("null") // as encoding/json renders a nil RawMessage
		}
		body = append(body, d...)
	}
	body = append(body, ']')
	if metaJSON != nil {
		body = append(body, `,"meta":`...)
		body = append(body, metaJSON...)
	}
	body = append(body, "}\n"...)
	writeRaw(w, body)
	return nil
}

// writeDoc answers {"data":doc} with one item that already is a JSON
// document, as writeDocs does.
func writeDoc(w http.ResponseWriter, doc json.RawMessage) error {
	body := make([]byte, 0, len(doc)+len(`{"data":}`)+1)
	body = append(body, `{"data":`...)
	body = append(body, doc...)
	body = append(body, "}\n"...)
	writeRaw(w, body)
	return nil
}

func writeRaw(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

func isForbidden(err error) bool {
	he, ok := hooks.AsError(err)
	return ok && he.Code == "FORBIDDEN"
}

// decodeBody reads a JSON body, keeping numbers exact. Anything that is not
// exactly one JSON value is 400 INVALID_PAYLOAD; a body over the size limit
// keeps its *http.MaxBytesError (413).
func decodeBody(r *http.Request) (any, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err
		}
		return nil, hooks.InvalidPayload("The request body could not be read").WithCause(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, hooks.InvalidPayload("The request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, hooks.InvalidPayload("Malformed JSON: " + err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, hooks.InvalidPayload("Malformed JSON: trailing data after the value")
	}
	return v, nil
}

func asItemList(list []any) ([]hooks.Item, error) {
	items := make([]hooks.Item, len(list))
	for i, el := range list {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, hooks.InvalidPayload(fmt.Sprintf("Element %d is not an object", i))
		}
		items[i] = m
	}
	return items, nil
}

// bodyQuery reads the "query" of a PATCH or DELETE body: an object or its
// JSON string form.
func bodyQuery(v any) (*hooks.Query, error) {
	switch x := v.(type) {
	case map[string]any:
		return query.ParseObject(x)
	case string:
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(x)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, hooks.InvalidQuery(`"query" is not a JSON object`)
		}
		return query.ParseObject(m)
	}
	return nil, hooks.InvalidPayload(`"query" must be an object`)
}
