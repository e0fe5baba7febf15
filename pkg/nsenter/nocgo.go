//go:build !cgo

package nsenter

// nsexec is C that must run before the Go runtime starts: without cgo there is no nsexec, and a
// binary built anyway would fail at run time in confusing ways. This stops the build instead, with
// the fix in the name below. Install a C compiler (apt-get install gcc) and build with CGO_ENABLED=1.
var _ = rkexec_needs_cgo__install_gcc_and_build_with_CGO_ENABLED_1
