#!/bin/sh
# The example job: coloured output on both streams, then the exit code asked for.
#   EXIT_CODE  the code to exit with (default 0)
#   GREETING   one of hello, bonjour, hallo (default hello)
set -eu

green=$(printf '\033[32m')
yellow=$(printf '\033[33m')
red=$(printf '\033[31m')
reset=$(printf '\033[0m')

greeting="${GREETING:-hello}"
code="${EXIT_CODE:-0}"

printf '%s%s%s from job %s (request %s)\n' "$green" "$greeting" "$reset" \
    "${AIRLOCK_JOB:-hello}" "${AIRLOCK_REQUEST_ID:-none}"
printf '%swarning:%s this line goes to stderr\n' "$yellow" "$reset" >&2
for step in 1 2 3; do
    printf 'step %s of 3\n' "$step"
    sleep 0.2
done
if [ "$code" -ne 0 ]; then
    printf '%sfailing on purpose with exit code %s%s\n' "$red" "$code" "$reset" >&2
fi
exit "$code"
