"""Board tops on amaranth-boards platforms and the synthesis flow with resource and timing reports."""
