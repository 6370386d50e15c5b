package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

var userFields = []string{"id", "email", "password", "first_name", "last_name", "role", "status", "token",
	"last_access", "provider"}

// userRoutes mounts /users (admin only) and /users/me (any user).
func (a *Auth) userRoutes(s *Server, r chi.Router) {
	res := &sysResource{path: "/users", collection: "directus_users", fields: userFields,
		list: a.svc.UserList, read: a.svc.UserRead, create: a.svc.UserCreateMany,
		update: a.svc.UserUpdateMany, delete: a.svc.UserDeleteMany}
	a.mountResource(s, r, res, func(r chi.Router) {
		r.Get("/me", s.Handle(func(w http.ResponseWriter, r *http.Request) error {
			fields, err := sysFields(r, res)
			if err != nil {
				return err
			}
			item, err := a.svc.UserMe(r.Context(), AccountabilityFrom(r.Context()))
			if err != nil {
				return err
			}
			return writeData(w, http.StatusOK, projectItem(item, fields))
		}))
	})
}
