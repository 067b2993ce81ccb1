#!/usr/bin/env bash
# The fake platform server's own self-test, run with the rest so CI runs it: every test
# of leadsync-fetch and of serve trusts the platform behaviour it checks.
exec bash "$(dirname "$0")/../fake_platforms/selftest.sh"
