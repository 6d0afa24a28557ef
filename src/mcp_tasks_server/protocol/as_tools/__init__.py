"""Tasks as ordinary tools and resources, for clients with no task support."""
