#!/bin/sh
echo "chunk 0"
sleep 0.3
echo "chunk 1"
sleep 0.3
echo "chunk 2"
