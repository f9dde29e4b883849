package bpf

import (
	"os"
	"os/signal"
	"syscall"
)

// CloseOnSignal detaches the probes when one of sigs arrives (SIGINT and SIGTERM when none
// are given) and then delivers that signal on the returned channel, so the caller can exit.
// bpf_links die with the process anyway; clsact filters do not, which is why this exists.
// stop undoes the handler without closing.
func (p *Probes) CloseOnSignal(sigs ...os.Signal) (closed <-chan os.Signal, stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	in := make(chan os.Signal, 1)
	out := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(in, sigs...)
	go func() {
		select {
		case s := <-in:
			_ = p.Close()
			out <- s
		case <-done:
		}
	}()
	return out, func() {
		signal.Stop(in)
		close(done)
	}
}
