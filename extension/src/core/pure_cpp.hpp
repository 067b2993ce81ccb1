// Included last by every core header: the core must build without PostgreSQL, so it
// can be unit-tested without a server and shared with the fetcher.
#pragma once
#ifdef PG_VERSION_NUM
#error "leadsync core headers must be included before any PostgreSQL header"
#endif
