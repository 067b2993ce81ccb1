// leadsync-fetch serve: the webhook receiver (routes in webhook_routes.cpp, HTTP in
// http_server.cpp), its database sessions, and the resolvers of Meta's notifications.
#pragma once

#include "sync/config.hpp"

namespace leadsync::serve {

// Runs until SIGTERM or SIGINT, then stops accepting, finishes what is in flight and
// exits. Returns the process exit status.
int serve(const sync::FetchConfig& config, const sync::ProgressLog& say);

}  // namespace leadsync::serve
