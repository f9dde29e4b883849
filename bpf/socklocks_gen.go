package bpf

// The socket iterators of socklocks.c, generated like the programs in gen.go.
//go:generate go tool bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" socklocks socklocks.c
