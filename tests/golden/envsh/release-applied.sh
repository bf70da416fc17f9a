#!/bin/sh
# export RELEASE_NODE=commented
: # meshbeam: disabled, conflicts with the managed RELEASE_DISTRIBUTION: export RELEASE_DISTRIBUTION=sname
if [ -n "$X" ]; then
: # meshbeam: disabled, conflicts with the managed RELEASE_NODE:   RELEASE_NODE="app@${HOST}"
fi
: # meshbeam: disabled, conflicts with the managed RELEASE_COOKIE: export RELEASE_COOKIE='abc' # keep it secret
export RELEASE_NODE=a@b; echo hi
export RELEASE_TMP=/tmp
## meshbeam:begin (managed by meshbeam; edits inside are overwritten)
export RELEASE_DISTRIBUTION=name
export RELEASE_NODE=app@198.18.0.1
## meshbeam:end
