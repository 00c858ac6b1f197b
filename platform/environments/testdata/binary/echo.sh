#!/bin/sh
# Echoes the request: a header and the query, then "METHOD URI <stdin>".
printf 'x-test=%s query=%s\n' "$HTTP_X_TEST" "$QUERY_STRING"
printf '%s %s ' "$REQUEST_METHOD" "$REQUEST_URI"
cat
