package bpf

// Regenerate with `go generate ./bpf` (needs clang 14 and libbpf-dev; the output is
// committed so that building needs neither). -target bpfel: nettune runs on little-endian
// hosts only.
//go:generate go tool bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" counters counters.c
//go:generate go tool bpf2go -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu" drops drops.c
