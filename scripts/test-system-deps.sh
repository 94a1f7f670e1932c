#!/usr/bin/env bash
# System packages the tests need beyond pip: Debian's Chromium (the web explainer's browser tests,
# driven by Playwright with executable_path=/usr/bin/chromium; Playwright never downloads a
# browser here) and a CJK font (the Chinese figures). Installs what is missing with apt-get and
# says clearly when it cannot; the tests that need a missing piece then skip with that reason.
set -uo pipefail

missing=()
fc-list 2>/dev/null | grep -qi "WenQuanYi\|Noto Sans CJK" || missing+=(fonts-wqy-microhei fontconfig)
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-liberation fonts-dejavu-core)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages for the tests: present ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
  exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
if ! command -v apt-get >/dev/null 2>&1; then
  echo "warning: no apt-get on this machine; missing ${missing[*]}: the browser tests will be SKIPPED" \
       "(the test summary says so) and zh figures fall back to boxes" >&2
  exit 0
fi
echo "installing system packages for the tests: ${missing[*]}"
if ! ("${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}") \
     >/tmp/convtranspose-apt.log 2>&1; then
  echo "warning: could not apt-get install ${missing[*]} (see /tmp/convtranspose-apt.log): the browser" \
       "tests will be SKIPPED (the test summary says so) and zh figures fall back to boxes" >&2
fi
[ -x /usr/bin/chromium ] && echo "browser tests use $(/usr/bin/chromium --version 2>/dev/null | head -1)"
exit 0
