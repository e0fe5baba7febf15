package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/rkexec/rkexec/pkg/process"
)

// execStage2 is `rkexec exec`'s process inside the sandbox (nsexec's stage 2): it becomes the command,
// or starts it detached and exits.
func execStage2(envKey string) int {
	var spec process.Spec
	err := json.Unmarshal([]byte(os.Getenv(envKey)), &spec)
	os.Unsetenv(envKey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rkexec exec: decoding %s: %v\n", envKey, err)
		return 125
	}
	err = process.Exec(spec)
	if err == nil {
		return 0 // detached: the command runs on
	}
	fmt.Fprintf(os.Stderr, "rkexec exec: %v\n", err)
	return process.CodeOf(err)
}
