//go:build linux

package nsenter

// The C side lives in nsexec.c (stages), bootstrap.c (parser) and nsexec.h;
// importing "C" compiles them into every binary that links this package.

// #cgo CFLAGS: -Wall -Wextra
import "C"
