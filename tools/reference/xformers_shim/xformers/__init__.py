"""Stand-in for the xformers package, for tools/reference only.

Upstream imports `xformers` and `xformers.ops` and calls `memory_efficient_attention`; this package
provides that one function on top of torch so the reference runs without the compiled library.
"""
