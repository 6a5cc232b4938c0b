"""`ariadne train` (owned by the runtime work)."""
