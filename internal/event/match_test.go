package event

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Every measured row of reference §1.3 (eventemitter2 6.4.9 with
// wildcard: true, delimiter '.'), plus the edges our matcher must not
// over-match.
func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"items.*", "items.create", true},
		{"items.**", "items.create", true},
		{"items.*", "articles.items.create", false},
		{"items.**", "articles.items.create", false},
		{"*.items.create", "articles.items.create", true},
		{"*.items.*", "articles.items.create", true},
		{"*.items.create", "items.create", false},
		{"*.*", "items.create", true},
		{"*.*", "users.create", true},
		{"*.*", "websocket.message", true},
		{"*.*", "server.start", true},
		{"*.*", "articles.items.create", false},
		{"*.*", "websocket.auth.success", false},
		{"**", "items.create", true},
		{"**", "articles.items.create", true},
		{"**", "response", true},
		{"**", "websocket.auth.success", true},
		{"*", "items.create", false},
		{"*", "response", true},
		{"*.create", "items.create", true},
		{"*.create", "articles.items.create", false},
		{"**.create", "articles.items.create", true},
		{"items.create", "items.create", true},
		{"items.create", "items.update", false},
		{"items.create", "articles.items.create", false},
		{"websocket.*", "websocket.auth.success", false},
		{"websocket.**", "websocket.auth.success", true},
		{"items.**", "items", true},
		{"items.*", "items", false},
		{"items.create", "items.create.extra", false},
		{"items.*.x", "items.create", false},
		{"a.**.d", "a.b.c.d", true},
		{"a.**.d", "a.d", true},
		{"a.**.d", "a.b.c.e", false},
		{"ite*", "items", false}, // partial wildcards are invalid, never match
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Match(tt.pattern, tt.name))
		})
	}
}

func TestCompilePatternErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "items..create", ".items", "items.", "it*ems.create", "items create"} {
		_, err := compilePattern(bad)
		require.Error(t, err, bad)
	}
}

func TestDurable(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"items.create": true, "articles.items.update": true, "users.delete": true, "auth.login": true,
		"permissions.create": true, "items.read": false, "articles.items.read": false, "websocket.message": false,
		"websocket.auth.success": false, "server.start": false, "response": false, "request.not_found": false,
	} {
		require.Equal(t, want, Durable(name), name)
	}
}
