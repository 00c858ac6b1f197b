#!/bin/sh
# stdout is the body; stderr is the function's log.
echo "function stdout line ${HTTP_X_LANTERN_REQUEST_ID:--}"
echo "function stderr line ${HTTP_X_LANTERN_REQUEST_ID:--}" >&2
