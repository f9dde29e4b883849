package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// A second run on the same cache waits for the first and says why.
func TestLockCacheTakesTurns(t *testing.T) {
	cache := t.TempDir()
	var mu sync.Mutex
	var log []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf(format, args...))
	}
	unlock, err := lockCache(cache, logf)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func())
	go func() {
		u, err := lockCache(cache, logf)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("second run took the lock while the first held it")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("second run still waiting after the first released the lock")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(log) != 1 || !strings.Contains(log[0], "waiting for another kernel-matrix run") {
		t.Errorf("log %q", log)
	}
}
