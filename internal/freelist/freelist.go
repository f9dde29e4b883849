// Package freelist keeps large buffers for reuse by whichever goroutine needs one next.
// Unlike a sync.Pool, the garbage collector does not empty it: a buffer is allocated, and
// zeroed, once for each user at a time over the process's life, not again after every
// collection.
package freelist

import "sync"

// List holds the *T not in use. The zero List is empty and ready.
type List[T any] struct {
	mu   sync.Mutex
	free []*T
}

// Get returns a kept *T, or a new zero one when none is free. Its contents are whatever the
// last user left.
func (l *List[T]) Get() *T {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.free); n > 0 {
		b := l.free[n-1]
		l.free = l.free[:n-1]
		return b
	}
	return new(T)
}

// Put gives b back for the next Get.
func (l *List[T]) Put(b *T) {
	l.mu.Lock()
	l.free = append(l.free, b)
	l.mu.Unlock()
}
