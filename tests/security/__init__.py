"""The security suite: cross-project leaks, stale authorization, escapes (issue 17)."""
