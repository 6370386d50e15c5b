package api

import "github.com/go-chi/chi/v5"

var permissionFields = []string{"id", "role", "collection", "action", "permissions", "validation", "presets", "fields"}

// permissionRoutes mounts /permissions (admin only).
func (a *Auth) permissionRoutes(s *Server, r chi.Router) {
	a.mountResource(s, r, &sysResource{path: "/permissions", collection: "directus_permissions",
		fields: permissionFields, list: a.svc.PermissionList, read: a.svc.PermissionRead,
		create: a.svc.PermissionCreateMany, update: a.svc.PermissionUpdateMany,
		delete: a.svc.PermissionDeleteMany}, nil)
}
