// Package hooks is the public API for writing hookd hook extensions: the Go
// form of Directus's custom API hooks (filter, action, init, schedule) and of
// its custom WebSocket handlers.
//
// It is a leaf package: it imports nothing else from hookd, so extensions
// depend on it alone.
package hooks
