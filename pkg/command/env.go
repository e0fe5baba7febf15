package command

import "strings"

// MergeEnv returns env with each KEY=VALUE of set in place of the variable of the same key, or
// appended: every key appears once, and the last value given for it wins. (execve keeps duplicates,
// and getenv takes the first, so appending alone would not override.)
func MergeEnv(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	index := map[string]int{}
	for _, kv := range append(env[:len(env):len(env)], set...) {
		key, _, _ := strings.Cut(kv, "=")
		if i, ok := index[key]; ok {
			out[i] = kv
			continue
		}
		index[key] = len(out)
		out = append(out, kv)
	}
	return out
}

// WithoutEnv returns env without the variable key.
func WithoutEnv(env []string, key string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
