#!/bin/sh
# Installs the Debian packages the test suite drives when they are missing:
# chromium (the page's browser test, through chromedp) and prometheus (the
# scrape test, which also uses its promtool). make test runs it before the
# tests; the tests fail, never skip, without them. Installing needs root
# (apt-get); without it this says which packages to install and fails.
set -eu
need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v prometheus >/dev/null 2>&1 || need="$need prometheus"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "tools.sh: missing:$need; install them (apt-get install$need) or run make test as root" >&2
	exit 1
fi
echo "tools.sh: installing$need" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >&2
