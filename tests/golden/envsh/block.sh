## meshbeam:begin (managed by meshbeam; edits inside are overwritten)
export RELEASE_DISTRIBUTION=name
export RELEASE_NODE=app@198.18.0.1
## meshbeam:end
