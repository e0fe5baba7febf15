// Package idmap decides and writes the uid and gid maps of a new user namespace.
//
// The sources of subordinate ids are /etc/subuid and /etc/subgid ("static") and the getsubids helper
// ("dynamic", which asks NSS). The map gives namespace id 0 to the caller and the subordinate ranges
// to ids 1 and up, and is written with the setuid helpers newuidmap and newgidmap. The fallbacks, in
// order: the real root user writes a full identity map directly; a caller without helpers or without
// ranges gets a single mapping of itself, written directly with setgroups denied, and a warning that
// says what is lost and how to fix it.
//
// It does not create namespaces; callers give it the pid of a process that is already in one.
package idmap
