#!/bin/sh
# Records its own pid and a child's, then waits for ever (for cancellation).
sleep 30 &
echo "$$ $!" > pids
echo started
wait
