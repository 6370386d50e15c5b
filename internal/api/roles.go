package api

import "github.com/go-chi/chi/v5"

var roleFields = []string{"id", "name", "icon", "description", "admin_access", "app_access"}

// roleRoutes mounts /roles (admin only).
func (a *Auth) roleRoutes(s *Server, r chi.Router) {
	a.mountResource(s, r, &sysResource{path: "/roles", collection: "directus_roles", fields: roleFields,
		list: a.svc.RoleList, read: a.svc.RoleRead, create: a.svc.RoleCreateMany,
		update: a.svc.RoleUpdateMany, delete: a.svc.RoleDeleteMany}, nil)
}
