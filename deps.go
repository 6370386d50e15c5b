//go:build deps

// This file pins the stack's libraries that no package imports yet, so that
// go.mod and go.sum record the versions the design settled on (see README,
// "Dependencies"). Remove a line once real code imports the module.
package deps

import (
	_ "github.com/golang-jwt/jwt/v5"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/jackc/pglogrepl"
	_ "github.com/robfig/cron/v3"
	_ "golang.org/x/crypto/argon2"
	_ "riverqueue.com/riverui"
)
