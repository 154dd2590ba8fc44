// A Go program whose heap grows: 12 steps of 4 MiB, each written page by page and kept,
// 80 ms apart. The Go runtime maps this memory itself (no malloc): under allocscope its RSS
// is seen from outside, its heap is not.
package main

import (
	"fmt"
	"time"
)

var kept [][]byte

func main() {
	for step := 0; step < 12; step++ {
		block := make([]byte, 4<<20)
		for i := 0; i < len(block); i += 4096 {
			block[i] = byte(step + 1)
		}
		kept = append(kept, block)
		time.Sleep(80 * time.Millisecond)
	}
	sum := 0
	for _, b := range kept {
		sum += int(b[0])
	}
	fmt.Println("go grower:", len(kept), "blocks, checksum", sum)
}
