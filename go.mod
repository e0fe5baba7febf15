module github.com/rkexec/rkexec

go 1.26
