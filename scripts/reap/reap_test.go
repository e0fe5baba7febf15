package main

import (
	"strings"
	"testing"
	"time"
)

func TestReapPassesTheStatus(t *testing.T) {
	code, err := run([]string{"sh", "-c", "exit 3"}, time.Second, 0, "")
	if err != nil || code != 3 {
		t.Errorf("run(exit 3) = %d, %v; want 3, nil", code, err)
	}
}

func TestReapFindsWhatIsLeftBehind(t *testing.T) {
	// The shell exits at once; its background sleep, re-parented to the subreaper, outlives the grace.
	_, err := run([]string{"sh", "-c", "sleep 30 & exit 0"}, 200*time.Millisecond, 0, "")
	if err == nil || !strings.Contains(err.Error(), "sleep 30") {
		t.Fatalf("run(sh with a background sleep) error = %v, want one naming the sleep", err)
	}
	if left := children(); len(left) != 0 {
		t.Errorf("still running after reap killed them: %v", describe(left))
	}
}

func TestReapWaitsForWhatEndsWithinTheGrace(t *testing.T) {
	code, err := run([]string{"sh", "-c", "sleep 0.2 & exit 0"}, 5*time.Second, 0, "")
	if err != nil || code != 0 {
		t.Errorf("run(sh with a short background sleep) = %d, %v; want 0, nil", code, err)
	}
}

func TestReapEndsACommandThatTakesTooLong(t *testing.T) {
	start := time.Now()
	_, err := run([]string{"sh", "-c", "sleep 30; exit 0"}, time.Second, 300*time.Millisecond, "")
	if err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Fatalf("run(sleep 30) with -timeout error = %v, want one saying it did not finish", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("run took %v, want about the timeout", d)
	}
	if left := children(); len(left) != 0 {
		t.Errorf("still running after the timeout: %v", describe(left))
	}
}
