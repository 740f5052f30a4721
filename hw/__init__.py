"""Board tops on amaranth-boards platforms; the synthesis flow with resource and timing reports."""
