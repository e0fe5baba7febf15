package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/rkexec/rkexec/pkg/process"
)

// execStage2 is `rkexec exec`'s process inside the sandbox (nsexec's stage 2, or the process it forks
// for a detached command): it becomes the command.
func execStage2(envKey string) int {
	var spec process.Spec
	err := json.Unmarshal([]byte(os.Getenv(envKey)), &spec)
	os.Unsetenv(envKey)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rkexec exec: decoding %s: %v\n", envKey, err)
		return 125
	}
	if spec.Detach {
		if err := process.StartDetached(spec, envKey); err != nil {
			fmt.Fprintf(os.Stderr, "rkexec exec: %v\n", err)
			return 125
		}
		return 0
	}
	err = process.Exec(spec)
	fmt.Fprintf(os.Stderr, "rkexec exec: %v\n", err)
	var pe *process.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return 125
}
