package command

import (
	"reflect"
	"testing"
)

func TestMergeEnv(t *testing.T) {
	env := []string{"A=1", "B=2", "A=dup", "PATH=/bin"}
	got := MergeEnv(env, "B=3", "C=4", "PATH=/usr/bin")
	want := []string{"A=dup", "B=3", "PATH=/usr/bin", "C=4"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if env[1] != "B=2" {
		t.Fatal("MergeEnv changed its input")
	}
}

func TestWithoutEnv(t *testing.T) {
	got := WithoutEnv([]string{"A=1", "AB=2", "A=3"}, "A")
	if !reflect.DeepEqual(got, []string{"AB=2"}) {
		t.Fatalf("got %q", got)
	}
}
