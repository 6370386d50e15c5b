package main

import (
	"github.com/hookd/hookd/hooks"
	"github.com/hookd/hookd/hooks/adminonly"
	"github.com/hookd/hookd/hooks/cronwebhook"
	"github.com/hookd/hookd/hooks/notifications"
	"github.com/hookd/hookd/hooks/syncrecipes"
	"github.com/hookd/hookd/hooks/validatetitle"
)

// extensions are the hook extensions compiled into this binary, in
// registration order. EXTENSIONS (comma-separated ids) enables a subset;
// unset enables all. To add one, write a package under hooks/<id>/ that
// exports a hooks.Extension and list it here.
//
// The examples that reach outside (sync-with-external, cron-webhook) or
// lock clients out (admin-only) stay inert until their settings are given:
// RECIPES_SYNC_URL, CRON_WEBHOOK_URL, ADMIN_ONLY_COLLECTIONS.
var extensions = []hooks.Extension{
	validatetitle.Extension,
	adminonly.Extension,
	syncrecipes.Extension,
	cronwebhook.Extension,
	notifications.Extension,
}
