// The extension's settings (GUCs), declared in one place: settings.cpp.
#pragma once

namespace leadsync::pg {

// Registers every leadsync.* setting; called once from _PG_init.
void define_settings();

// leadsync.http_connect_timeout and leadsync.http_timeout, in milliseconds: the limits
// of every HTTP request an in-database sync makes.
int http_connect_timeout_ms();
int http_timeout_ms();

// leadsync.sync_runs_retention, in minutes: how long a recorded sync run is kept.
int sync_runs_retention_minutes();

// The business time zone's name: leadsync.timezone, or the session's TimeZone when
// that is empty. Never raises an error. Returns a string owned by PostgreSQL.
const char* business_timezone_name();

}  // namespace leadsync::pg
