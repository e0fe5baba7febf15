// Package layering holds no code: its test checks that rkexec's roles meet only on the wire. A role
// package (the parent, the child, the init, the exec side) may import shared packages, package wire
// among them, but never another role's package, directly or through another package.
package layering
