"""`ariadne index build|...`, `ariadne route`, `ariadne eval` (owned by the routing-engine work)."""
