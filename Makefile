# Builds and installs the leadsync PostgreSQL extension with PGXS: the pure C++ core,
# the platform adapters (for sync_source) and the PostgreSQL side.
# The unit tests and leadsync-fetch are built by CMakeLists.txt.

EXTVERSION = 0.3.0

MODULE_big = leadsync
CORE_SOURCES = $(wildcard extension/src/core/*.cpp)
SYNC_SOURCES = $(wildcard extension/src/sync/*.cpp)
PG_SOURCES = $(wildcard extension/src/pg/*.cpp)
OBJS = $(CORE_SOURCES:.cpp=.o) $(SYNC_SOURCES:.cpp=.o) $(PG_SOURCES:.cpp=.o)

MODULEDIR = extension
# The current install script is built from sql/install/; every released version's
# install script is kept frozen in sql/released/ and every upgrade in sql/, so any
# released version can be installed and updated along the chain.
RELEASED_SCRIPTS = $(filter-out sql/released/leadsync--$(EXTVERSION).sql, $(wildcard sql/released/leadsync--*.sql))
UPGRADE_SCRIPTS = $(wildcard sql/leadsync--*--*.sql)
DATA = extension/leadsync.control $(RELEASED_SCRIPTS) $(UPGRADE_SCRIPTS)
DATA_built = sql/leadsync--$(EXTVERSION).sql
EXTRA_CLEAN = $(DATA_built)

PG_CPPFLAGS = -Iextension/src
PG_CXXFLAGS = -std=c++17 -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register
SHLIB_LINK = -lcurl -lstdc++

# No JIT bitcode: PostgreSQL would need the exact clang it was built with.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# The install script's parts, by purpose, joined in the order of their names.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
sql/leadsync--$(EXTVERSION).sql: $(INSTALL_PARTS)
	cat $^ > $@

# The control file, META.json and the Debian changelog must carry the Makefile's version.
.PHONY: check-version
check-version:
	@grep -q "default_version = '$(EXTVERSION)'" extension/leadsync.control || { echo "leadsync.control version differs from $(EXTVERSION)"; exit 1; }
	@grep -q '"version": "$(EXTVERSION)"' META.json || { echo "META.json version differs from $(EXTVERSION)"; exit 1; }
	@head -n 1 debian/changelog | grep -q '^leadsync ($(EXTVERSION))' || { echo "debian/changelog version differs from $(EXTVERSION)"; exit 1; }
all: check-version

# The PGXN distribution: leadsync-<version>.zip with every tracked file of HEAD under
# leadsync-<version>/, as PGXN expects (META.json at the top of that directory).
.PHONY: dist
dist:
	git archive --format zip --prefix=leadsync-$(EXTVERSION)/ --output leadsync-$(EXTVERSION).zip HEAD
