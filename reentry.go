package eventlog

// A call that would wait for the call around it — a Producer's Flush from a
// SendAsync function, a Consumer's Close from a Deserializer — must fail
// instead of waiting for itself. Such a call tells it runs inside by looking
// for a marker function's frame on its own stack: Go gives goroutines no
// identity to compare, and this costs nothing until a caller looks.

import (
	"reflect"
	"runtime"
)

// funcEntry returns the address of the first instruction of fn, a
// top-level function that is never inlined.
func funcEntry(fn any) uintptr {
	return runtime.FuncForPC(reflect.ValueOf(fn).Pointer()).Entry()
}

// onStack reports whether the function starting at entry has a frame on the
// calling goroutine's stack. It costs 0.5 µs, 2 µs thirty frames deep.
func onStack(entry uintptr) bool {
	var pcs [64]uintptr
	for skip := 2; ; skip += len(pcs) {
		n := runtime.Callers(skip, pcs[:])
		for _, pc := range pcs[:n] {
			// pc is a return address; pc-1 is inside the calling function.
			if f := runtime.FuncForPC(pc - 1); f != nil && f.Entry() == entry {
				return true
			}
		}
		if n < len(pcs) {
			return false
		}
	}
}
