// A Go program with cgo: its C code mallocs 10 blocks of 4096 bytes and keeps them. Those
// are the allocations allocscope records (a Go program's own heap is not malloc). Go exits
// without running C's exit handlers, so the shim writes no exit snapshot: the program
// waits past the shim's site snapshot (every second) before it ends.
package main

/*
#include <stdlib.h>
static void *cgo_keep_block(size_t size) { return malloc(size); }
*/
import "C"

import (
	"fmt"
	"time"
)

var kept []uintptr

func main() {
	for i := 0; i < 10; i++ {
		kept = append(kept, uintptr(C.cgo_keep_block(4096)))
	}
	time.Sleep(1300 * time.Millisecond)
	fmt.Println("cgo keeper:", len(kept), "blocks")
}
